"""Causality's tracking SDK: Segment-Spec calls onto a durable on-disk queue.

Standard library only. See README.md for options and guarantees.
"""

from ._client import Client
from ._errors import CausalityError, ConfigError, Report
from ._options import Options
from ._report import Stats
from ._version import __version__

__all__ = ["CausalityError", "Client", "ConfigError", "Options", "Report", "Stats", "__version__"]
