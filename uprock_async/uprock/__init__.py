"""The Uprock Crawl API: :class:`UprockClient` and its models."""

from . import models
from ._client import UprockClient
from ._watch import JobWatch
from .models import *  # noqa: F403  # every model, as listed in models.__all__

__all__ = ["JobWatch", "UprockClient"]
__all__ += models.__all__
