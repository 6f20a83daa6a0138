"""Typed insights: pydantic models compiled to Trino SQL by our own deterministic code.

`compile_insight(insight, today)` returns SQL that still goes through the guardrails like any
other query. Values are SQL literals built by sqlglot; JSON properties are read with
``json_extract_scalar(properties, '$.key')`` with the key validated; date ranges filter both
``dt`` (partition pruning) and ``event_time``. Users are identified by ``user_id``: events
without one count as events, never as users.

Each kind is a module (``trend.py``, ``funnel.py``, ...) holding its model, its compiler and
its `InsightKind`; `KINDS` lists them by name, and `Insight` is their union on ``kind``.
"""

from workspace.insights._fields import COLUMNS, Breakdown, DateRange, Filter
from workspace.insights._kind import InsightKind
from workspace.insights._registry import INSIGHT_KINDS, KINDS, Insight
from workspace.insights.compile import compile_insight
from workspace.insights.errors import InsightError
from workspace.insights.kinds.funnel import Funnel, FunnelStep
from workspace.insights.kinds.retention import Retention
from workspace.insights.kinds.stickiness import Stickiness
from workspace.insights.kinds.top_events import TopEvents
from workspace.insights.kinds.trend import Trend

__all__ = [
    "COLUMNS",
    "INSIGHT_KINDS",
    "KINDS",
    "Breakdown",
    "DateRange",
    "Filter",
    "Funnel",
    "FunnelStep",
    "Insight",
    "InsightError",
    "InsightKind",
    "Retention",
    "Stickiness",
    "TopEvents",
    "Trend",
    "compile_insight",
]
