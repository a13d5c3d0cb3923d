"""``uprock_async.__all__`` and the documented imports are pinned to API.md.

``API_IMPORTS`` is the "Packages and imports" block of the public API contract,
copied verbatim: the repository carries its own contract, so the test reads no
file outside it and runs the same in a fresh clone. When the contract grows,
this copy grows with the code that implements it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pickle
import pydoc
import traceback
import typing

import pytest

import uprock_async

API_IMPORTS = """\
from uprock_async import (
    UprockClient, ScreenshotCenterClient,          # one client per API
    Timeout, Limits, RetryPolicy,                  # configuration value objects
    fan_out, Outcome,                              # concurrency helpers
    AdaptiveConcurrency, ClientStats,              # see "Operating at scale"
    CircuitBreaker,                                # see "Monitoring many jobs"
    RequestInfo, ResponseInfo,                     # what event_hooks receive
    UprockAsyncError, ConfigurationError, APIConnectionError, APITimeoutError, APIStatusError,
    BadRequestError, AuthenticationError, PermissionDeniedError, NotFoundError,
    RateLimitError, ServerError, ResponseDecodeError, WaitTimeoutError,
)
from uprock_async.uprock import JobDetail, Job, JobResult, Cookie, Header, CrawlSession
from uprock_async.screenshotcenter import Crawl, Screenshot, App, Tracker, TrackerReturn, Batch, Account
from uprock_async.testing import FakeServer
"""  # noqa: E501

#: The packages users import from: every name in their ``__all__`` shows this path.
PUBLIC_PACKAGES = (
    "uprock_async",
    "uprock_async.testing",
    "uprock_async.metrics",
    "uprock_async.frames",
)


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


def _public_callables() -> list[tuple[str, object]]:
    import uprock_async.sync as sync

    found: list[tuple[str, object]] = [
        (f"uprock_async.{name}", getattr(uprock_async, name))
        for name in ("fan_out", "gather")
        if hasattr(uprock_async, name)
    ]
    for cls in (
        uprock_async.UprockClient,
        uprock_async.ScreenshotCenterClient,
        sync.UprockClient,
        sync.ScreenshotCenterClient,
    ):
        for name, member in vars(cls).items():
            if callable(member) and (not name.startswith("_") or name == "__init__"):
                found.append((f"{cls.__module__}.{cls.__qualname__}.{name}", member))
        for base in cls.__mro__[1:]:
            if base.__module__.startswith("uprock_async") and "__init__" in vars(base):
                found.append((f"{base.__qualname__}.__init__", vars(base)["__init__"]))
    return found


def test_type_hints_of_every_public_method_resolve_at_runtime() -> None:
    # Tools that read annotations at runtime (typeguard, beartype, pydantic's
    # validate_call, sphinx) call typing.get_type_hints: no alias may name a type
    # its own module does not have, in the methods or in their typed overloads.
    import typing

    for name, fn in _public_callables():
        for target in (fn, *typing.get_overloads(fn)):  # type: ignore[arg-type]
            try:
                typing.get_type_hints(target)
            except Exception as exc:  # pragma: no cover - the failure message
                raise AssertionError(f"{name}: {type(exc).__name__}: {exc}") from exc


def _public_objects() -> list[tuple[str, str, object]]:
    """``(package, name, object)`` of every class and function a public package exports."""
    found: list[tuple[str, str, object]] = []
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.append((package, name, obj))
    return found


def _shown_module(obj: object) -> str:
    return str(getattr(obj, "__module__", ""))


@pytest.mark.parametrize(
    ("package", "name", "obj"), _public_objects(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_public_name_shows_a_public_import_path(package: str, name: str, obj: object) -> None:
    shown = _shown_module(obj)
    assert not any(part.startswith("_") for part in shown.split(".")), f"{package}.{name}: {shown}"
    # … and that path really has it, so pickling and "from <path> import <name>" work.
    assert getattr(importlib.import_module(shown), name) is obj


def test_an_error_shows_its_public_path_in_repr_help_and_tracebacks() -> None:
    assert repr(uprock_async.RateLimitError) == "<class 'uprock_async.RateLimitError'>"
    assert "in module uprock_async\n" in pydoc.render_doc(uprock_async.RateLimitError)
    try:
        raise uprock_async.RateLimitError("slow down", status_code=429, retry_after=1.0)
    except uprock_async.RateLimitError as exc:
        last_line = traceback.format_exception(exc)[-1]
        copy = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    assert last_line.startswith("uprock_async.RateLimitError: ")
    assert type(copy) is uprock_async.RateLimitError
    assert copy.retry_after == 1.0


def test_classes_shown_at_their_public_path_keep_resolvable_type_hints() -> None:
    # typing.get_type_hints (and msgspec) read a class's string annotations in
    # sys.modules[cls.__module__]: moving the path must not break them.
    for package, name, obj in _public_objects():
        if inspect.isclass(obj):
            try:
                typing.get_type_hints(obj)
            except Exception as exc:  # pragma: no cover - the failure message
                raise AssertionError(f"{package}.{name}: {type(exc).__name__}: {exc}") from exc


def test_a_missing_key_is_a_configuration_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for client, variable in (
        (uprock_async.UprockClient, "UPROCK_API_KEY"),
        (uprock_async.ScreenshotCenterClient, "SCREENSHOTCENTER_API_KEY"),
    ):
        monkeypatch.delenv(variable, raising=False)
        with pytest.raises(uprock_async.ConfigurationError, match=variable) as caught:
            client()
        assert isinstance(caught.value, uprock_async.UprockAsyncError)
        assert isinstance(caught.value, ValueError)  # code catching ValueError keeps working
