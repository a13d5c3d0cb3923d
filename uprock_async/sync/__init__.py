"""Blocking clients, for scripts, notebooks and code that cannot ``await``.

::

    from uprock_async.sync import UprockClient, ScreenshotCenterClient

    with UprockClient() as client:             # same arguments as the async client
        detail = client.job_detail(job_id)
        for outcome in client.iter_job_details(ids):   # a plain iterator
            ...

Each client runs its async twin on an event loop in a daemon thread of its own
(anyio's blocking portal): every method has the async one's name, arguments,
results and exceptions, works in a thread where a loop already runs (a Jupyter
cell), and may be called from many threads at once. ``iter_*`` methods return a
:class:`BlockingIterator`.

A ``KeyboardInterrupt`` or ``SystemExit`` raised in a ``progress=`` callback
reaches the caller and ends the client cleanly (``closed`` becomes True; later
calls raise ``RuntimeError`` saying why). In a notebook cell, a call whose
server runs on the kernel's own loop (an awaited ``FakeServer``) cannot be
answered while it blocks that loop: after the client's timeout without an
answer it logs a WARNING, and the ``APITimeoutError`` it raises says what
happened and how to fix it (``with FakeServer.in_thread() as server:``).
"""

from ._runner import BlockingIterator
from ._screenshotcenter import ScreenshotCenterClient
from ._uprock import UprockClient

__all__ = ["BlockingIterator", "ScreenshotCenterClient", "UprockClient"]
