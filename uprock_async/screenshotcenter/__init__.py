"""The ScreenshotCenter API: :class:`ScreenshotCenterClient` and its models."""

from ._client import ScreenshotCenterClient
from .models import Account, App, Batch, Crawl, Screenshot, Tracker, TrackerReturn

__all__ = [
    "Account",
    "App",
    "Batch",
    "Crawl",
    "Screenshot",
    "ScreenshotCenterClient",
    "Tracker",
    "TrackerReturn",
]
