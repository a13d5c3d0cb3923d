"""Public names show where users import them from, not the private module they live in.

A class defined in ``uprock_async._errors`` and exported by ``uprock_async``
would print as ``uprock_async._errors.RateLimitError`` in a ``repr``, in
``help()`` and in every traceback. :func:`publish`, called by each public
package on its own ``__all__``, sets ``__module__`` to the package users import
from (numpy's ``set_module`` and trio's ``fixup_module_metadata`` do the same).

Two things read ``__module__`` besides those displays, and stay right:

- ``typing.get_type_hints`` (and msgspec, building a struct's type info) look a
  class's string annotations up in ``sys.modules[cls.__module__]``. Each
  renamed class's own annotations are therefore resolved first, in the module
  that defined them, and stored as objects.
- ``typing.get_overloads`` finds a function's overloads by its module. A
  function with overloads keeps its ``__module__`` (a function's ``repr`` and a
  traceback show its name and file, never its module, anyway).

Pickling finds every renamed object at its new path: it is an attribute of the
package that exports it.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping

__all__ = ["publish"]


def _is_private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split("."))


def publish(package: str, namespace: Mapping[str, object]) -> None:
    """Set ``__module__`` to ``package`` on every class and function in
    ``namespace["__all__"]`` that is defined in a private module of this library,
    or in a public module below ``package`` that re-exports it from there (the
    shortest public import path wins: ``uprock_async.UprockClient``)."""
    for name in typing.cast("list[str]", namespace["__all__"]):
        obj = namespace[name]
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # type aliases, constants: nothing shows their module
        current: str = getattr(obj, "__module__", "")
        if not current.startswith("uprock_async") or current == package:
            continue
        if not (_is_private(current) or current.startswith(package + ".")):
            continue
        if inspect.isfunction(obj):
            if typing.get_overloads(obj):
                continue
        else:
            _resolve_annotations(obj)
        obj.__module__ = package


def _resolve_annotations(cls: type) -> None:
    """Replace ``cls``'s own string annotations by the objects they name, read in
    the module that defined ``cls`` (a class whose hints do not resolve at
    runtime, e.g. names imported only for type checking, keeps its strings)."""
    own = inspect.get_annotations(cls)
    if not any(isinstance(value, str) for value in own.values()):
        return
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:  # such a class's hints never resolved at runtime anyway
        return
    cls.__annotations__ = {key: hints.get(key, value) for key, value in own.items()}
