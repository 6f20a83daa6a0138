"""Monitors: anomaly detection on a metric's hourly or daily series (the alert half of Reactions).

This part owns the pure detection core, with no I/O: the seasonal baseline (same hour-of-week
or weekday over the last weeks, median and a floored MAD spread), the scoring of one bucket
into spike / drop / normal (including "no events at all": tracking broke), the per-monitor
state machine that turns an incident into one ``fired`` and one ``resolved`` alert, and
:func:`evaluate`, which runs them over the buckets not yet evaluated. Every threshold and floor
is a field of :class:`DetectionPolicy`, documented in :mod:`pipeline.monitors._policy`.
Reading series from an engine, storing state and delivering alerts live elsewhere.
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
    "DetectionPolicy",
    "Direction",
    "Evaluation",
    "MonitorError",
    "MonitorState",
    "Reason",
    "Resolution",
    "Sensitivity",
    "Series",
    "Status",
    "evaluate",
    "score",
    "seasonal_baseline",
    "step",
]
