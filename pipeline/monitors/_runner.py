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

A warehouse query costs a fixed planning time whatever the data, so a pass first plans every
monitor's read window, then reads the series of one app and resolution with one grouped query
(:func:`~pipeline.monitors._query.read_grouped`) when the first of them is evaluated, and each
app's first day and last events with one query; a monitor the grouped read left out (its
group's query failed) reads its own series as before.
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
    Resolution,
)
from pipeline.monitors._query import (
    QUERY_TIMEOUT_S,
    SeriesRows,
    bind,
    read_grouped,
    read_series,
)
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
        self._now = datetime.min.replace(tzinfo=UTC)
        self._last: dict[tuple[str, str], datetime | None] = {}  # (app, dt from) -> last event
        self._silence_days: dict[str, set[str]] = {}  # app -> dt from, of its no_events
        self._reads: dict[str, tuple[MonitorSpec, datetime, datetime]] = {}  # planned
        self._groups_read: set[tuple[str, Resolution, datetime]] = set()
        self._fetched: dict[str, SeriesRows] = {}

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
        out: list[Transition] = []
        enabled = self.store.list(enabled_only=True)
        self._cache = {k: v for k, v in self._cache.items() if k in {m.monitor_id for m in enabled}}
        self._plan(enabled, now)
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

    def _plan(self, enabled: list[StoredMonitor], now: datetime) -> None:
        """Note what the pass will read, so reads of one app can share a query: the start of
        each ``no_events`` monitor's last-event search, then each series' read window (a
        monitor whose spec or state cannot be read is left to fail in its turn)."""
        self._now, self._first_day, self._last, self._silence_days = now, {}, {}, {}
        self._reads, self._groups_read, self._fetched = {}, set(), {}
        specs = []
        for stored in enabled:
            try:
                specs.append((stored, parse_monitor(stored.spec_json)))
            except MonitorError:
                continue
        for _, spec in specs:
            if spec.kind == "no_events":
                day = f"{self._silence_start(spec, now):%Y-%m-%d}"
                self._silence_days.setdefault(spec.app_id, set()).add(day)
        for stored, spec in specs:
            if spec.kind == "no_events":
                continue
            try:
                window = self._window(stored.monitor_id, spec, now)
            except MonitorError:
                continue
            if window is not None:
                start, _ = self._reuse(stored, window[1])
                if start < window[2]:
                    self._reads[stored.monitor_id] = (spec, start, window[2])

    def _window(self, monitor_id: str, spec: MonitorSpec, now: datetime
                ) -> tuple[MonitorState, datetime, datetime] | None:
        """The monitor's state and the series window ``[since, end)`` it evaluates now; None
        when there is nothing new to evaluate."""
        width = spec.resolution.step
        end = floor_bucket(now - self.settle, spec.resolution)  # first incomplete bucket
        state = self._load(monitor_id) or MonitorState(evaluated_until=end - width)
        assert state.evaluated_until is not None
        if state.evaluated_until >= end:
            return None
        first_day = self._app_start(spec.app_id)
        if first_day is None:  # no events ever: nothing to compare, nothing to say
            return None
        lookback = self.policy.weeks * WEEK + self.policy.level_days * DAY
        since = max(floor_bucket(first_day, spec.resolution), state.evaluated_until - lookback)
        return None if since >= end else (state, since, end)

    def _anomaly(self, stored: StoredMonitor, spec: MonitorSpec, now: datetime
                 ) -> list[Transition]:
        window = self._window(stored.monitor_id, spec, now)
        if window is None:
            return []
        state, since, end = window
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
        start, old = self._reuse(stored, since)
        series = old + (self._read(stored.monitor_id, spec, start, end) if start < end else [])
        self._cache[stored.monitor_id] = (stored.spec_json, since, end, series)
        return series

    def _reuse(self, stored: StoredMonitor, since: datetime
               ) -> tuple[datetime, list[tuple[datetime, float]]]:
        """Where the warehouse read starts, and the cached buckets before it."""
        cached = self._cache.get(stored.monitor_id)
        if cached is not None and cached[0] == stored.spec_json and cached[1] <= since < cached[2]:
            return cached[2], [(at, v) for at, v in cached[3] if at >= since]
        return since, []

    def _read(self, monitor_id: str, spec: MonitorSpec, start: datetime, end: datetime
              ) -> SeriesRows:
        """The planned read of the monitor's group, done once for all of them, else its own."""
        if self._reads.get(monitor_id) == (spec, start, end):
            group = (spec.app_id, spec.resolution, end)
            if group not in self._groups_read:
                self._groups_read.add(group)
                members = {key: read for key, read in self._reads.items()
                           if (read[0].app_id, read[0].resolution, read[2]) == group}
                self._fetched.update(read_grouped(self.engine, members))
            series = self._fetched.pop(monitor_id, None)
            if series is not None:
                return series
        return read_series(self.engine, spec, start, end)

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
        last = self._last_event(spec.app_id, self._silence_start(spec, now), now)
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

    @staticmethod
    def _silence_start(spec: MonitorSpec, now: datetime) -> datetime:
        return now - timedelta(minutes=spec.silence_minutes) - DAY

    def _app_start(self, app_id: str) -> datetime | None:
        """The app's first day of events: before it, history is unknown rather than zero."""
        if app_id not in self._first_day:
            self._app_facts(app_id, set())
        return self._first_day[app_id]

    def _last_event(self, app_id: str, since: datetime, now: datetime) -> datetime | None:
        """The app's latest event from ``since``'s day up to ``now`` (a clock-skewed future
        event hides nothing)."""
        day = f"{since:%Y-%m-%d}"
        if now != self._now:
            self._now, self._last = now, {}
        if (app_id, day) not in self._last:
            self._app_facts(app_id, {day})
        return self._last[(app_id, day)]

    def _app_facts(self, app_id: str, days: set[str]) -> None:
        """One query for the app's first day and its last event from each of ``days`` (and
        the days its ``no_events`` monitors search), each a ``max`` with its own filter."""
        froms = sorted(days | self._silence_days.get(app_id, set()))
        columns = [f"max(event_time) FILTER (WHERE dt >= ? AND event_time <= "
                   f"CAST(? AS TIMESTAMP)) AS last{i}" for i in range(len(froms))]
        sql = f"SELECT {', '.join(['min(dt) AS first_day', *columns])} FROM events WHERE app_id = ?"
        params: list[Any] = [p for day in froms for p in (day, self._now)]
        try:
            table = self.engine.run(bind(sql, [*params, app_id]), 1, QUERY_TIMEOUT_S).table
        except EngineError as exc:
            raise MonitorError(f"the warehouse could not be read: {exc.message}",
                               code="series_unavailable", hint=exc.hint or "try again later"
                               ) from None
        row = table.to_pylist()[0] if table.num_rows else {}
        first = row.get("first_day")
        self._first_day[app_id] = (
            None if first is None else datetime.fromisoformat(str(first)).replace(tzinfo=UTC))
        for i, day in enumerate(froms):
            self._last[(app_id, day)] = _utc(row.get(f"last{i}"))

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


def _utc(value: object) -> datetime | None:
    if value is None:
        return None
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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

