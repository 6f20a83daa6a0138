"""Monitors: anomaly detection on a metric's hourly or daily series (the alert half of Reactions).

This part owns the pure detection core, with no I/O: the seasonal baseline (same hour-of-week
or weekday over the last weeks, median and a floored MAD spread), the scoring of one bucket
into spike / drop / normal (including "no events at all": tracking broke), the per-monitor
state machine that turns an incident into one ``fired`` and one ``resolved`` alert, and
:func:`evaluate`, which runs them over the buckets not yet evaluated. Every threshold and floor
is a field of :class:`DetectionPolicy`, documented in :mod:`pipeline.monitors._policy`.
:class:`MonitorSpec` (:func:`parse_monitor`) is what a stored monitor watches;
:func:`series_sql` / :func:`read_series` read its series from the warehouse, and
:class:`MonitorRunner` evaluates every enabled monitor of the metadata store on a schedule,
recording alerts and handing each :class:`Transition` to a ``notify`` callback.
"""

from pipeline.monitors._baseline import (
    Assessment,
    Baseline,
    Direction,
    Reason,
    Series,
    score,
    seasonal_baseline,
)
from pipeline.monitors._policy import (
    DEFAULT_POLICY,
    Bars,
    DetectionPolicy,
    MonitorError,
    Resolution,
    Sensitivity,
)
from pipeline.monitors._query import read_series, series_sql
from pipeline.monitors._runner import MonitorRunner, Skipped, Transition
from pipeline.monitors._spec import BreakdownValue, MonitorSpec, parse_monitor
from pipeline.monitors._state import (
    Alert,
    AlertKind,
    Evaluation,
    MonitorState,
    Status,
    evaluate,
    step,
)

__all__ = [
    "DEFAULT_POLICY",
    "Alert",
    "AlertKind",
    "Assessment",
    "Bars",
    "Baseline",
    "BreakdownValue",
    "DetectionPolicy",
    "Direction",
    "Evaluation",
    "MonitorError",
    "MonitorRunner",
    "MonitorSpec",
    "MonitorState",
    "Reason",
    "Resolution",
    "Sensitivity",
    "Series",
    "Skipped",
    "Status",
    "Transition",
    "evaluate",
    "parse_monitor",
    "read_series",
    "score",
    "seasonal_baseline",
    "series_sql",
    "step",
]
