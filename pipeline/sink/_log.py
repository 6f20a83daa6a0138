"""The sink's logger: JSON lines in the shape of :mod:`pipeline.logs`, shared with ingest."""

from __future__ import annotations

import logging
from typing import Any

from pipeline.logs import JsonFormatter, configure_logging

LOGGER = logging.getLogger("causality.sink")

__all__ = ["LOGGER", "JsonFormatter", "configure_logging", "log"]


def log(level: int, msg: str, exc: BaseException | None = None, **fields: Any) -> None:
    LOGGER.log(level, msg, exc_info=exc, extra={"fields": fields})
