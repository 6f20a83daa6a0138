"""Typed insights: pydantic models compiled to Trino SQL by our own deterministic code.

`compile_insight(insight, today)` returns SQL that still goes through the guardrails like any
other query. Values are SQL literals built by sqlglot; JSON properties are read with
``json_extract_scalar(properties, '$.key')`` with the key validated; date ranges filter both
``dt`` (partition pruning) and ``event_time``.
"""

from workspace.insights._fields import COLUMNS, Breakdown, DateRange, Filter
from workspace.insights.compile import compile_insight
from workspace.insights.errors import InsightError
from workspace.insights.models import (
    INSIGHT_KINDS,
    Funnel,
    FunnelStep,
    Insight,
    Retention,
    Stickiness,
    TopEvents,
    Trend,
)

__all__ = [
    "COLUMNS",
    "INSIGHT_KINDS",
    "Breakdown",
    "DateRange",
    "Filter",
    "Funnel",
    "FunnelStep",
    "Insight",
    "InsightError",
    "Retention",
    "Stickiness",
    "TopEvents",
    "Trend",
    "compile_insight",
]
