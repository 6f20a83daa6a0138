"""Per-monitor state (ok → firing → ok) and the evaluation loop over new buckets.

One incident is one ``fired`` alert and, later, one ``resolved`` alert. Hysteresis keeps a
long incident from flapping: once firing, a bucket only counts as recovered when it is within
the *resolve* bars (half the firing bars by default), and the monitor resolves after
``policy.resolve_after`` recovered buckets in a row. Night hours of a 60 % level shift clear
the resolve bars less easily than busy hours clear the firing bars, and without this an
all-day drop would fire again every morning.

An hourly anomaly fires only once the next bucket confirms it (``policy.confirm_hourly``),
unless it is extreme; the ``fired`` alert still names the first anomalous bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from pipeline.monitors._baseline import (
    Assessment,
    Direction,
    History,
    Reason,
    Series,
    floor_bucket,
    index_series,
    score,
    utc_bucket,
)
from pipeline.monitors._policy import (
    DEFAULT_POLICY,
    DetectionPolicy,
    MonitorError,
    Resolution,
    Sensitivity,
)


class Status(StrEnum):
    OK = "ok"
    FIRING = "firing"


class AlertKind(StrEnum):
    FIRED = "fired"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class MonitorState:
    """What a monitor remembers between evaluations.

    ``evaluated_until`` is the exclusive end of the buckets already evaluated: None means
    "start at the series' first bucket"; a monitor created now that should not alert on the
    past starts with ``MonitorState(evaluated_until=now)``. While firing, ``direction``,
    ``reason`` and ``since`` describe the incident and ``recovered`` counts normal buckets.
    While OK, ``pending`` is an anomaly awaiting confirmation, seen ``pending_count`` times.
    """

    status: Status = Status.OK
    direction: Direction | None = None
    reason: Reason | None = None
    since: datetime | None = None
    recovered: int = 0
    evaluated_until: datetime | None = None
    pending: Alert | None = None
    pending_count: int = 0


@dataclass(frozen=True)
class Alert:
    """A state change: ``fired`` carries the first anomalous bucket, ``resolved`` the bucket
    that completed recovery; both carry the incident's direction and start (``since``)."""

    kind: AlertKind
    direction: Direction
    reason: Reason
    at: datetime
    since: datetime
    value: float
    expected: tuple[float, float] | None
    score: float


@dataclass(frozen=True)
class Evaluation:
    state: MonitorState
    alerts: tuple[Alert, ...]
    assessments: tuple[tuple[datetime, Assessment], ...]


def step(
    state: MonitorState,
    assessment: Assessment,
    at: datetime,
    policy: DetectionPolicy = DEFAULT_POLICY,
    *,
    confirm: int = 1,
) -> tuple[MonitorState, Alert | None]:
    """Advance one bucket; returns the new state and the alert the transition emits, if any.

    While OK, an anomaly fires once ``confirm`` buckets in a row lean its way (the first past
    the firing bars, the next at least past the resolve bars: the same hysteresis that keeps an
    incident open confirms it), or at once when extreme; the ``fired`` alert names the first.
    ``evaluated_until`` is left alone: it is :func:`evaluate`'s bookkeeping.
    """
    anomalous = assessment.direction is not Direction.NORMAL
    if state.status is Status.OK:
        pending = state.pending
        if pending is not None and assessment.leaning is pending.direction:
            count = state.pending_count + 1  # anomalous, or still past the resolve bars
        elif anomalous:
            pending, count = None, 1
        else:
            cleared = replace(state, pending=None, pending_count=0)
            return (cleared if state.pending is not None else state), None
        if pending is None:
            pending = Alert(
                kind=AlertKind.FIRED,
                direction=assessment.direction,
                reason=assessment.reason,
                at=at,
                since=at,
                value=assessment.value,
                expected=assessment.expected,
                score=assessment.score,
            )
        if count < confirm and not assessment.extreme:
            return replace(state, pending=pending, pending_count=count), None
        fired = replace(
            state,
            status=Status.FIRING,
            direction=pending.direction,
            reason=pending.reason,
            since=pending.at,
            recovered=0,
            pending=None,
            pending_count=0,
        )
        return fired, pending
    if assessment.reason is Reason.NOT_ENOUGH_HISTORY:
        # Neither a continuation nor a recovery: hold, rather than resolve on missing data.
        return state, None
    if assessment.leaning is state.direction:
        return replace(state, recovered=0), None
    if state.recovered + 1 < policy.resolve_after:
        return replace(state, recovered=state.recovered + 1), None
    alert = _alert(AlertKind.RESOLVED, state, assessment, at)
    return MonitorState(evaluated_until=state.evaluated_until), alert


def evaluate(
    series: Series,
    resolution: Resolution,
    sensitivity: Sensitivity,
    state: MonitorState,
    now: datetime,
    policy: DetectionPolicy = DEFAULT_POLICY,
    *,
    history_start: datetime | None = None,
) -> Evaluation:
    """Score and step every complete bucket not yet evaluated; pure and deterministic.

    A bucket is complete when its end is ≤ ``now`` (pass ``now`` minus the ingest delay you
    trust). Evaluation only moves forward: data arriving later for a bucket already evaluated
    does not re-open it. Buckets run up to ``now`` even past the series' last row, because
    missing buckets are 0 and a series that stopped is the tracking-broke case.
    ``history_start`` is where the series' query window began (default: its first row), so
    leading empty buckets count as 0 rather than as unknown.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise MonitorError(
            "now must be timezone-aware", now=now.isoformat(), hint="use datetime.UTC"
        )
    values = index_series(series, resolution)
    since = (
        utc_bucket(history_start, resolution)
        if history_start is not None
        else min(values, default=None)
    )
    if state.evaluated_until is not None:
        start = utc_bucket(state.evaluated_until, resolution)
    elif since is not None:
        start = since
    else:
        return Evaluation(state=state, alerts=(), assessments=())
    width = resolution.step
    end = floor_bucket(now, resolution)  # first bucket not yet complete
    alerts: list[Alert] = []
    assessments: list[tuple[datetime, Assessment]] = []
    dense = History(values, since, end, resolution) if since is not None else None
    confirm = policy.confirm(resolution)
    at = start
    while at < end:
        value = values.get(at, 0.0)
        baseline = None
        if dense is not None and at >= dense.start:
            i = dense.index(at)
            # while firing, the level is the one before the incident (see seasonal_baseline)
            firing = state.since if state.status is Status.FIRING else None
            level = dense.index(max(firing, dense.start)) if firing is not None else i
            baseline = dense.baseline(i, level, policy.weeks, policy)
        assessment = score(value, baseline, sensitivity, policy)
        state, alert = step(state, assessment, at, policy, confirm=confirm)
        assessments.append((at, assessment))
        if alert is not None:
            alerts.append(alert)
        at += width
    if end > start:
        state = replace(state, evaluated_until=end)
    return Evaluation(state=state, alerts=tuple(alerts), assessments=tuple(assessments))


def _alert(kind: AlertKind, incident: MonitorState, assessment: Assessment, at: datetime) -> Alert:
    assert incident.direction is not None and incident.reason is not None
    assert incident.since is not None
    return Alert(
        kind=kind,
        direction=incident.direction,
        reason=incident.reason,
        at=at,
        since=incident.since,
        value=assessment.value,
        expected=assessment.expected,
        score=assessment.score,
    )
