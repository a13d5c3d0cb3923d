"""The one way a streaming helper ends: a task group that nothing outlives.

:class:`FanOut` and :class:`~uprock_async.JobWatch` run their work in one task
group owned by an ``async with`` block. Leaving the block, early or not,
cancels what still runs and waits for it; a lone exception inside the group's
wrappers is raised as itself, never as an ``ExceptionGroup``.
"""

from __future__ import annotations

import sys
from types import TracebackType

import anyio
import anyio.abc

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["TaskScope", "single"]


def single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real exception inside nested task-group wrappers (else the group)."""
    while len(group.exceptions) == 1 and isinstance(group.exceptions[0], BaseExceptionGroup):
        group = group.exceptions[0]
    return group.exceptions[0] if len(group.exceptions) == 1 else group


class TaskScope:
    """Base of the async context managers that own one task group.

    A subclass calls :meth:`_enter_once` first thing in ``__aenter__`` and
    :meth:`_open` to start its group; it may override :meth:`_stopping` (runs as
    the group is cancelled), :meth:`_closed` (runs once every task has ended)
    and :meth:`_failure` (an error to raise after the group, ahead of its own).
    """

    _group: anyio.abc.TaskGroup | None = None
    _entered = False

    def _enter_once(self, name: str) -> None:
        if self._entered:
            raise RuntimeError(f"a {name} can be entered only once")
        self._entered = True

    async def _open(self) -> anyio.abc.TaskGroup:
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        return group

    def _stopping(self) -> None:
        """Called right after the group is cancelled, before waiting for it."""

    async def _closed(self) -> None:
        """Called once every task of the group has ended (also on errors)."""

    def _failure(self) -> BaseException | None:
        """An error the work recorded, raised in place of a quiet end."""
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        group = self._group
        if group is None:  # __aenter__ failed before the group started
            return None
        group.cancel_scope.cancel()  # finished or left early: nothing may outlive the block
        self._stopping()
        error: BaseException | None = None
        try:
            suppress = await group.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as raised:
            error = single(raised)
            if error is raised:
                raise
        finally:
            await self._closed()
        failure = self._failure()
        if failure is not None:
            raise failure
        if error is not None:
            raise error  # outside the except block, so its own cause/context survive
        return suppress
