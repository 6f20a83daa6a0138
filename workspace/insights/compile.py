"""One entry point: an insight → canonical Trino SQL, deterministically."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlglot import exp

from workspace.insights._sql import to_trino
from workspace.insights.errors import InsightError
from workspace.insights.funnel import funnel
from workspace.insights.models import Funnel, Retention, Stickiness, TopEvents, Trend
from workspace.insights.retention import retention
from workspace.insights.stickiness import stickiness
from workspace.insights.top_events import top_events
from workspace.insights.trend import trend

_COMPILERS: dict[type[Any], Callable[[Any, date], exp.Expr]] = {
    Trend: trend,
    Funnel: funnel,
    Retention: retention,
    TopEvents: top_events,
    Stickiness: stickiness,
}


def compile_insight(insight: Trend | Funnel | Retention | TopEvents | Stickiness,
                    today: date | None = None) -> str:
    """The Trino SQL for `insight`; relative date ranges count back from `today` (UTC)."""
    compiler = _COMPILERS.get(type(insight))
    if compiler is None:
        raise InsightError(f"cannot compile {type(insight).__name__}",
                           hint=f"use one of {', '.join(c.__name__ for c in _COMPILERS)}")
    day = today or datetime.now(UTC).date()
    try:
        return to_trino(compiler(insight, day))
    except ValueError as err:
        raise InsightError(str(err), hint="check the insight's fields") from None
