"""uprock_async: async clients for the Uprock Crawl API and the ScreenshotCenter API.

::

    from uprock_async import UprockClient

    async with UprockClient() as client:           # key from UPROCK_API_KEY
        details = await client.job_details(job_ids, concurrency="auto")
"""

from ._config import CircuitBreaker, Limits, RetryPolicy, Timeout
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    UprockAsyncError,
    WaitTimeoutError,
)
from ._http import RequestInfo, ResponseInfo
from ._public import publish as _publish
from ._stats import ClientStats
from ._version import __version__ as __version__
from .concurrency import AdaptiveConcurrency, Outcome, fan_out
from .screenshotcenter import ScreenshotCenterClient
from .uprock import UprockClient

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AdaptiveConcurrency",
    "AuthenticationError",
    "BadRequestError",
    "CircuitBreaker",
    "ClientStats",
    "ConfigurationError",
    "Limits",
    "NotFoundError",
    "Outcome",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestInfo",
    "ResponseDecodeError",
    "ResponseInfo",
    "RetryPolicy",
    "ScreenshotCenterClient",
    "ServerError",
    "Timeout",
    "UprockAsyncError",
    "UprockClient",
    "WaitTimeoutError",
    "fan_out",
]

_publish(__name__, globals())  # uprock_async.RateLimitError, not uprock_async._errors.…
