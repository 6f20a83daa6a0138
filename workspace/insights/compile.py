"""One entry point: an insight → canonical Trino SQL, deterministically."""

from __future__ import annotations

from datetime import UTC, date, datetime

from workspace.insights._registry import KINDS, Insight, kind_of
from workspace.insights._sql import to_trino
from workspace.insights.errors import InsightError


def compile_insight(insight: Insight, today: date | None = None) -> str:
    """The Trino SQL for `insight`; relative date ranges count back from `today` (UTC)."""
    kind = kind_of(insight)
    if kind is None:
        raise InsightError(f"cannot compile {type(insight).__name__}",
                           hint="use one of "
                                + ", ".join(k.model.__name__ for k in KINDS.values()))
    day = today or datetime.now(UTC).date()
    try:
        return to_trino(kind.compile(insight, day))
    except ValueError as err:
        raise InsightError(str(err), hint="check the insight's fields") from None
