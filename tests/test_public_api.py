"""``uprock_async.__all__`` and the documented imports are pinned to API.md.

``API_IMPORTS`` is the "Packages and imports" block of the public API contract,
copied verbatim: the repository carries its own contract, so the test reads no
file outside it and runs the same in a fresh clone. When the contract grows,
this copy grows with the code that implements it.
"""

from __future__ import annotations

import ast
import importlib

import uprock_async

API_IMPORTS = """\
from uprock_async import (
    UprockClient, ScreenshotCenterClient,          # one client per API
    Timeout, Limits, RetryPolicy,                  # configuration value objects
    fan_out, Outcome,                              # concurrency helpers
    AdaptiveConcurrency, ClientStats,              # see "Operating at scale"
    CircuitBreaker,                                # see "Monitoring many jobs"
    UprockAsyncError, APIConnectionError, APITimeoutError, APIStatusError,
    BadRequestError, AuthenticationError, PermissionDeniedError, NotFoundError,
    RateLimitError, ServerError, ResponseDecodeError, WaitTimeoutError,
)
from uprock_async.uprock import JobDetail, Job, JobResult, Cookie, Header, CrawlSession
from uprock_async.screenshotcenter import Crawl, Screenshot, App, Tracker, TrackerReturn, Batch, Account
from uprock_async.testing import FakeServer
"""  # noqa: E501


def _imports(source: str) -> dict[str, list[str]]:
    """``{module: [names]}`` of the ``from … import …`` statements in ``source``."""
    found: dict[str, list[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.setdefault(node.module, []).extend(alias.name for alias in node.names)
    return found


def test_all_lists_exactly_the_documented_top_level_names() -> None:
    documented = _imports(API_IMPORTS)["uprock_async"]
    assert len(documented) == len(set(documented))
    assert sorted(uprock_async.__all__) == sorted(documented)


def test_every_documented_name_imports_from_its_module() -> None:
    for module_name, names in _imports(API_IMPORTS).items():
        module = importlib.import_module(module_name)
        for name in names:
            assert hasattr(module, name), f"{module_name}.{name}"
            assert getattr(module, name).__doc__, f"{module_name}.{name} has no docstring"


def test_submodule_all_covers_the_documented_names() -> None:
    for module_name, names in _imports(API_IMPORTS).items():
        exported = getattr(importlib.import_module(module_name), "__all__", None)
        assert exported is not None, module_name
        assert set(names) <= set(exported), module_name


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from uprock_async import *", namespace)  # noqa: S102 - a fixed string
    assert set(namespace) - {"__builtins__"} == set(uprock_async.__all__)


def test_version_is_exposed() -> None:
    assert isinstance(uprock_async.__version__, str)
    assert uprock_async.__version__.count(".") >= 2
