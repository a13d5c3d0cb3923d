"""The Uprock Crawl API: :class:`UprockClient` and its models."""

from ._client import UprockClient
from ._watch import JobWatch
from .models import (
    BatchJobStatus,
    BatchStatusResponse,
    Cookie,
    CrawlSession,
    Header,
    Job,
    JobDetail,
    JobResult,
)

__all__ = [
    "BatchJobStatus",
    "BatchStatusResponse",
    "Cookie",
    "CrawlSession",
    "Header",
    "Job",
    "JobDetail",
    "JobResult",
    "JobWatch",
    "UprockClient",
]
