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
"""

from ._runner import BlockingIterator
from ._screenshotcenter import ScreenshotCenterClient
from ._uprock import UprockClient

__all__ = ["BlockingIterator", "ScreenshotCenterClient", "UprockClient"]
