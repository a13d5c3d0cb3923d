"""OpenAPI 3.1 descriptions of every endpoint the two clients call.

``uprock.openapi.yaml`` (Uprock Crawl API) and ``screenshotcenter.openapi.yaml``
(ScreenshotCenter API) ship inside the package. They are the contract
:class:`~uprock_async.testing.FakeServer` is checked against, and every body
they allow decodes into the models. Use them with any OpenAPI tool::

    from uprock_async import spec

    text = spec.read_text("uprock")      # the YAML source
    document = spec.load("uprock")       # a dict; needs PyYAML
"""

from __future__ import annotations

from importlib import resources
from typing import Any

__all__ = ["NAMES", "load", "read_text"]

#: The services described, by the name :func:`load` takes.
NAMES = ("uprock", "screenshotcenter")


def read_text(name: str) -> str:
    """The YAML source of the ``name`` spec (``"uprock"`` or ``"screenshotcenter"``)."""
    if name not in NAMES:
        raise ValueError(f"unknown spec {name!r}; expected one of {', '.join(NAMES)}")
    return resources.files(__name__).joinpath(f"{name}.openapi.yaml").read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    """The ``name`` spec as a dict. PyYAML is not a dependency of the package, so it
    is imported only here."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("uprock_async.spec.load needs PyYAML: pip install pyyaml") from None
    document = yaml.safe_load(read_text(name))
    if not isinstance(document, dict):
        raise ValueError(f"spec {name!r} is not a mapping")
    return document
