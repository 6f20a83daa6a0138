"""The scheduled half of monitors: read each series, evaluate new complete buckets, record alerts.

:class:`MonitorRunner` is what a reactor process calls every few minutes. One process at a
time evaluates (a lease in the metadata store, renewed before each monitor: a pass that
outlives the lease's TTL keeps it, and a runner that lost it stops the pass). For each
enabled monitor it reads the series over the baseline's history window up to the last
*complete* bucket (a bucket is complete ``settle_s`` after its end, the ingest delay it
trusts), evaluates only the buckets its saved state has not seen, records each transition as
an alert (idempotent by ``alert_id``), calls ``notify`` and only then saves the state: a crash
in between re-evaluates the same buckets and re-emits the same alert ids, so delivery is at
least once and duplicates are recognisable. A monitor whose spec no longer parses, or whose
series cannot be read, is skipped and reported in :attr:`MonitorRunner.skipped`; it never
stops the others.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from metadata import MonitorStore, StoredMonitor
from pipeline.monitors._baseline import Assessment, Direction, Reason, floor_bucket
from pipeline.monitors._policy import (
    DAY,
    DEFAULT_POLICY,
    WEEK,
    DetectionPolicy,
    MonitorError,
)
from pipeline.monitors._query import QUERY_TIMEOUT_S, bind, read_series
from pipeline.monitors._spec import MonitorSpec, parse_monitor
from pipeline.monitors._state import Alert, AlertKind, MonitorState, Status, evaluate
from warehouse.engines import Engine, EngineError

log = logging.getLogger(__name__)

LEASE_TTL_S = 300.0  # a runner that died frees the lease within five minutes
SETTLE_S = 300.0  # events reach the warehouse within the sink's flush; five minutes is ample
MAX_DETAIL_POINTS = 400  # points kept per alert for its chart
CONTEXT_BUCKETS = 24  # normal buckets kept before an incident's start, for the chart


@dataclass(frozen=True)
class Transition:
    """An alert changing state, as ``notify`` receives it; ``bucket`` is the incident's first
    bucket when fired and the bucket that completed the recovery when resolved."""

    monitor_id: str
    app_id: str
    name: str
    alert_id: str
    kind: Literal["fired", "resolved"]
    direction: str  # spike | drop | no_events
    bucket: datetime
    observed: float
    expected: float
    destination_ids: tuple[str, ...]


@dataclass(frozen=True)
class Skipped:
    monitor_id: str
    code: str
    message: str


class MonitorRunner:
    """Evaluates every enabled monitor of ``store`` against ``engine``'s warehouse."""

    def __init__(
        self,
        store: MonitorStore,
        engine: Engine,
        notify: Callable[[Transition], None],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        holder: str | None = None,
        lease_ttl_s: float = LEASE_TTL_S,
        settle_s: float = SETTLE_S,
        policy: DetectionPolicy = DEFAULT_POLICY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.engine, self.notify, self.clock = store, engine, notify, clock
        self.holder = holder or default_holder()
        self.lease_ttl_s, self.policy, self.monotonic = lease_ttl_s, policy, monotonic
        self.settle = timedelta(seconds=settle_s)
        self.skipped: list[Skipped] = []
        self.lost_lease = False  # whether the last pass stopped because another took the lease
        self._first_day: dict[str, datetime | None] = {}
        self._cache: dict[str, tuple[str, datetime, datetime, list[tuple[datetime, float]]]] = {}

    def tick(self) -> list[Transition]:
        return self.run_once(self.clock())

    def run_once(self, now: datetime) -> list[Transition]:
        """One pass over the enabled monitors; [] when another process holds the lease, and
        what was done so far when another process takes it during the pass."""
        if now.tzinfo is None:
            raise MonitorError("now must be timezone-aware", now=now.isoformat(),
                               hint="use datetime.now(UTC)")
        self.skipped, self.lost_lease = [], False
        started = self.monotonic()
        if not self.store.try_lead(self.holder, self.lease_ttl_s, now.timestamp()):
            return []
        self._first_day = {}
        out: list[Transition] = []
        enabled = self.store.list(enabled_only=True)
        self._cache = {k: v for k, v in self._cache.items() if k in {m.monitor_id for m in enabled}}
        for i, stored in enumerate(enabled):
            if i and not self._renew(now, started):
                self.lost_lease = True
                log.warning("monitor pass stopped after %s of %s monitors: another process "
                            "took the lease", i, len(enabled))
                break
            try:
                spec = parse_monitor(stored.spec_json)
                if spec.kind == "no_events":
                    out.extend(self._silence(stored, spec, now))
                else:
                    out.extend(self._anomaly(stored, spec, now))
            except MonitorError as exc:
                self.skipped.append(Skipped(stored.monitor_id, exc.code, exc.message))
                log.warning("monitor %s skipped: %s", stored.monitor_id, exc)
        return out

    def _renew(self, now: datetime, started: float) -> bool:
        """Extend the lease before the next monitor; the lease's clock is the pass's ``now``
        plus the time the pass has taken, so a slow pass never outlives its lease."""
        elapsed = self.monotonic() - started
        return self.store.try_lead(self.holder, self.lease_ttl_s, now.timestamp() + elapsed)

    def _anomaly(self, stored: StoredMonitor, spec: MonitorSpec, now: datetime
                 ) -> list[Transition]:
        width = spec.resolution.step
        end = floor_bucket(now - self.settle, spec.resolution)  # first incomplete bucket
        state = self._load(stored.monitor_id) or MonitorState(evaluated_until=end - width)
        assert state.evaluated_until is not None
        if state.evaluated_until >= end:
            return []
        first_day = self._app_start(spec.app_id)
        if first_day is None:  # no events ever: nothing to compare, nothing to say
            return []
        lookback = self.policy.weeks * WEEK + self.policy.level_days * DAY
        since = max(floor_bucket(first_day, spec.resolution), state.evaluated_until - lookback)
        if since >= end:
            return []
        series = self._series(stored, spec, since, end)
        done = evaluate(series, spec.resolution, spec.sensitivity, state, end, self.policy,
                        history_start=since)
        charts = {state.since} if state.status is Status.FIRING else set()
        transitions = []
        for alert in done.alerts:
            transitions.append(self._record(stored, spec, alert))
            charts.add(alert.since)
        points = dict(done.assessments)
        for incident in charts:
            assert incident is not None
            self._chart(stored.monitor_id, incident, spec, series, points)
        for transition in transitions:
            self._notify(transition)
        self._save(stored.monitor_id, done.state)
        return transitions

    def _series(self, stored: StoredMonitor, spec: MonitorSpec, since: datetime,
                end: datetime) -> list[tuple[datetime, float]]:
        """The series over ``[since, end)``; buckets read by an earlier run of this runner are
        reused (they were complete then), so an hourly run reads only the new hours."""
        cached = self._cache.get(stored.monitor_id)
        if cached is not None and cached[0] == stored.spec_json and cached[1] <= since < cached[2]:
            old = [(at, v) for at, v in cached[3] if at >= since]
            fresh = read_series(self.engine, spec, cached[2], end) if cached[2] < end else []
            series = old + fresh
        else:
            series = read_series(self.engine, spec, since, end)
        self._cache[stored.monitor_id] = (stored.spec_json, since, end, series)
        return series

    def _record(self, stored: StoredMonitor, spec: MonitorSpec, alert: Alert) -> Transition:
        alert_id = _alert_id(stored.monitor_id, alert.since)
        low, high = alert.expected or (0.0, 0.0)
        expected = (low + high) / 2 if alert.expected else 0.0
        if alert.kind is AlertKind.FIRED:
            self.store.open_alert(alert_id, stored.monitor_id, stored.app_id,
                                  alert.direction.value, alert.since.timestamp(), alert.value,
                                  expected, _detail(spec, []))
        else:
            self.store.resolve_alert(alert_id, alert.at.timestamp())
        kind: Literal["fired", "resolved"] = (
            "fired" if alert.kind is AlertKind.FIRED else "resolved")
        return Transition(
            monitor_id=stored.monitor_id, app_id=stored.app_id, name=stored.name,
            alert_id=alert_id, kind=kind, direction=alert.direction.value, bucket=alert.at,
            observed=alert.value, expected=expected, destination_ids=spec.destination_ids)

    def _chart(self, monitor_id: str, since: datetime, spec: MonitorSpec,
               series: list[tuple[datetime, float]], points: dict[datetime, Assessment]) -> None:
        """Add this evaluation's buckets to the incident's chart points (a bucket scored now
        replaces the same bucket shown earlier without a score)."""
        alert_id = _alert_id(monitor_id, since)
        known: dict[str, dict[str, Any]] = {}
        for row in self.store.alerts(monitor_id=monitor_id, limit=5):
            if row.alert_id == alert_id:
                known = {p["at"]: p for p in json.loads(row.detail_json).get("points", [])}
        first = since - CONTEXT_BUCKETS * spec.resolution.step
        for at, value in series:
            point = _point(at, value, points.get(at))
            if at >= first and ("expected" in point or point["at"] not in known):
                known[point["at"]] = point
        self.store.set_alert_detail(alert_id, _detail(spec, sorted(
            known.values(), key=lambda p: str(p["at"]))))

    def _silence(self, stored: StoredMonitor, spec: MonitorSpec, now: datetime
                 ) -> list[Transition]:
        """``no_events``: firing while the app has sent nothing for ``silence_minutes``."""
        silence = timedelta(minutes=spec.silence_minutes)
        last = self._last_event(spec.app_id, now - silence - DAY, now)
        silent = last is None or last < now - silence
        state = self._load(stored.monitor_id) or MonitorState()
        if silent == (state.status is Status.FIRING):
            return []
        if silent:
            started = (last or now - silence).replace(microsecond=0)
            state = MonitorState(status=Status.FIRING, direction=Direction.DROP,
                                 reason=Reason.NO_EVENTS, since=started)
        else:
            assert state.since is not None
            started, state = state.since, MonitorState()
        alert_id = _alert_id(stored.monitor_id, started)
        kind: Literal["fired", "resolved"] = "fired" if silent else "resolved"
        if silent:
            self.store.open_alert(alert_id, stored.monitor_id, stored.app_id, "no_events",
                                  started.timestamp(), 0.0, 0.0, "{}")
        else:
            self.store.resolve_alert(alert_id, now.timestamp())
        transition = Transition(stored.monitor_id, stored.app_id, stored.name, alert_id, kind,
                                "no_events", started if silent else now, 0.0, 0.0,
                                spec.destination_ids)
        self._notify(transition)
        self._save(stored.monitor_id, state)
        return [transition]

    def _notify(self, transition: Transition) -> None:
        """Call ``notify``; when it fails the state is not saved, so the next run evaluates
        the same buckets and notifies again under the same alert id."""
        try:
            self.notify(transition)
        except Exception as exc:
            raise MonitorError(f"notify failed: {exc!r}", code="notify_failed",
                               hint="the alert is recorded; it is notified again next run",
                               alert_id=transition.alert_id) from None

    def _app_start(self, app_id: str) -> datetime | None:
        """The app's first day of events: before it, history is unknown rather than zero."""
        if app_id not in self._first_day:
            rows = self._scalar("SELECT min(dt) AS v FROM events WHERE app_id = ?", [app_id])
            self._first_day[app_id] = (
                None if rows is None else datetime.fromisoformat(str(rows)).replace(tzinfo=UTC))
        return self._first_day[app_id]

    def _last_event(self, app_id: str, since: datetime, now: datetime) -> datetime | None:
        """The app's latest event up to ``now`` (a clock-skewed future event hides nothing)."""
        value = self._scalar(
            "SELECT max(event_time) AS v FROM events WHERE app_id = ? AND dt >= ? "
            "AND event_time <= CAST(? AS TIMESTAMP)",
            [app_id, f"{since:%Y-%m-%d}", now])
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def _scalar(self, sql: str, params: list[Any]) -> object:
        try:
            table = self.engine.run(bind(sql, params), 1, QUERY_TIMEOUT_S).table
        except EngineError as exc:
            raise MonitorError(f"the warehouse could not be read: {exc.message}",
                               code="series_unavailable", hint=exc.hint or "try again later"
                               ) from None
        return table.column(0)[0].as_py() if table.num_rows else None

    def _load(self, monitor_id: str) -> MonitorState | None:
        saved = self.store.load_state(monitor_id)
        return None if saved is None else state_from_json(saved.state_json)

    def _save(self, monitor_id: str, state: MonitorState) -> None:
        until = state.evaluated_until.timestamp() if state.evaluated_until else None
        self.store.save_state(monitor_id, state_to_json(state), until)


def default_holder() -> str:
    """``host-pid-random``: containers often share a hostname and run as pid 1, so the random
    part (made once per runner) keeps two of them from renewing each other's lease."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"


def _alert_id(monitor_id: str, since: datetime) -> str:
    """Stable per incident: a re-run after a crash records and notifies the same id."""
    return f"{monitor_id}-{int(since.timestamp())}"


def _point(at: datetime, value: float, assessment: Assessment | None) -> dict[str, Any]:
    point: dict[str, Any] = {"at": at.isoformat(), "value": value}
    if assessment is not None and assessment.expected is not None:
        point["expected"] = [round(x, 3) for x in assessment.expected]
        point["anomalous"] = assessment.direction is not Direction.NORMAL
    return point


def _detail(spec: MonitorSpec, points: list[dict[str, Any]]) -> str:
    return json.dumps({"resolution": spec.resolution.value,
                       "points": points[-MAX_DETAIL_POINTS:]})


# --- the state as JSON (the store keeps it opaque) ------------------------------------------


def state_to_json(state: MonitorState) -> str:
    return json.dumps({
        "status": state.status.value,
        "direction": state.direction.value if state.direction else None,
        "reason": state.reason.value if state.reason else None,
        "since": _time(state.since),
        "recovered": state.recovered,
        "evaluated_until": _time(state.evaluated_until),
        "pending": _alert_dict(state.pending),
        "pending_count": state.pending_count,
    })


def state_from_json(text: str) -> MonitorState:
    try:
        data = json.loads(text)
        return MonitorState(
            status=Status(data["status"]),
            direction=Direction(data["direction"]) if data["direction"] else None,
            reason=Reason(data["reason"]) if data["reason"] else None,
            since=_parse_time(data["since"]),
            recovered=int(data["recovered"]),
            evaluated_until=_parse_time(data["evaluated_until"]),
            pending=_alert_from(data.get("pending")),
            pending_count=int(data.get("pending_count", 0)),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise MonitorError(f"the monitor's saved state cannot be read: {exc}",
                           code="bad_monitor_state",
                           hint="replace the monitor to start it afresh") from None


def _time(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def _alert_dict(alert: Alert | None) -> dict[str, Any] | None:
    if alert is None:
        return None
    return {"kind": alert.kind.value, "direction": alert.direction.value,
            "reason": alert.reason.value, "at": _time(alert.at), "since": _time(alert.since),
            "value": alert.value, "expected": list(alert.expected) if alert.expected else None,
            "score": alert.score}


def _alert_from(data: dict[str, Any] | None) -> Alert | None:
    if data is None:
        return None
    at, since = _parse_time(data["at"]), _parse_time(data["since"])
    assert at is not None and since is not None
    expected = data["expected"]
    return Alert(kind=AlertKind(data["kind"]), direction=Direction(data["direction"]),
                 reason=Reason(data["reason"]), at=at, since=since, value=float(data["value"]),
                 expected=(float(expected[0]), float(expected[1])) if expected else None,
                 score=float(data["score"]))

