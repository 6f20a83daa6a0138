"""Monitors (anomaly alerts): their specs, the detector's saved state, alert history, a lease.

A monitor's spec is stored as its JSON text, exactly as given; only `pipeline.monitors`
(``parse_monitor``) reads it, as `metadata.reactions` does for rules. The detector's state is
likewise opaque JSON here. An alert row is one incident: opened once when it fires and closed
once when it resolves, both idempotent by ``alert_id`` so a runner that crashed between
recording and saving its state can record the same transition again harmlessly. The lease
lets one reactor process at a time evaluate monitors; times here are Unix seconds (floats).
"""

from __future__ import annotations

import builtins
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from metadata._db import monitor_alerts, monitor_lease, monitor_states, monitors
from metadata.errors import MetadataError
from warehouse.errors import LayoutError
from warehouse.layout import validate_app_id

MAX_NAME_CHARS = 200
MAX_SPEC_JSON_CHARS = 64 * 1024
MAX_ALERT_ID_CHARS = 64
MAX_HOLDER_CHARS = 64
MAX_ALERTS_LISTED = 10_000
ALERT_STATUSES = ("firing", "resolved")
_MONITOR_HINT = "list the monitors to see their ids"


class UnknownMonitor(MetadataError):
    code = "unknown_monitor"


class DuplicateMonitor(MetadataError):
    code = "duplicate_monitor"


class UnknownAlert(MetadataError):
    code = "unknown_alert"


@dataclass(frozen=True)
class StoredMonitor:
    """A monitor as stored: its ``spec_json`` is for `pipeline.monitors.parse_monitor`."""

    monitor_id: str
    app_id: str
    name: str
    spec_json: str
    enabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SavedState:
    monitor_id: str
    state_json: str
    evaluated_until: float | None


@dataclass(frozen=True)
class MonitorAlert:
    """One incident; ``detail_json`` holds the points a chart marks (the runner's format)."""

    alert_id: str
    monitor_id: str
    app_id: str
    status: str
    direction: str
    started_at: float
    resolved_at: float | None
    observed: float
    expected: float
    detail_json: str


@dataclass(frozen=True)
class ReplacedMonitor:
    """What :meth:`MonitorStore.replace` did: the monitor as stored now, and the incident of
    the old spec it closed (None when none was open). Nothing notifies of that closing here:
    the caller says so to the person who replaced the monitor."""

    monitor: StoredMonitor
    closed_alert: MonitorAlert | None


class MonitorStore:
    """Monitors, their state and alerts in the metadata store."""

    def __init__(self, db: Engine):
        self.db = db

    # --- monitors -----------------------------------------------------------------------

    def add(self, name: str, app_id: str, spec_json: str, created_by: str, *,
            enabled: bool = True, monitor_id: str | None = None) -> StoredMonitor:
        name = _check_name(name)
        _check_app_id(app_id)
        _check_json(spec_json)
        monitor_id = monitor_id or secrets.token_hex(8)
        if not 0 < len(monitor_id) <= 32:
            raise MetadataError("a monitor id has 1-32 characters", code="bad_monitor_id",
                                hint="leave it out to get a random one")
        now = datetime.now(UTC)
        try:
            with self.db.begin() as conn:
                conn.execute(monitors.insert().values(
                    monitor_id=monitor_id, app_id=app_id, name=name, spec_json=spec_json,
                    enabled=enabled, created_by=created_by.strip(), created_at=now,
                    updated_at=now))
        except sa.exc.IntegrityError:
            raise DuplicateMonitor(f"a monitor with id {monitor_id!r} exists already",
                                   hint="pick another id, or replace the monitor",
                                   monitor_id=monitor_id) from None
        return self.get(monitor_id)

    def get(self, monitor_id: str) -> StoredMonitor:
        query = sa.select(monitors).where(monitors.c.monitor_id == monitor_id)
        with self.db.connect() as conn:
            found = conn.execute(query).mappings().first()
        if found is None:
            raise _unknown(monitor_id)
        return _monitor(found)

    def list(self, app_id: str | None = None, *, enabled_only: bool = False
             ) -> builtins.list[StoredMonitor]:
        """Monitors, oldest first; with ``app_id``, only that app's."""
        query = sa.select(monitors).order_by(monitors.c.created_at, monitors.c.monitor_id)
        if app_id is not None:
            query = query.where(monitors.c.app_id == app_id)
        if enabled_only:
            query = query.where(monitors.c.enabled.is_(True))
        with self.db.connect() as conn:
            return [_monitor(r) for r in conn.execute(query).mappings()]

    def replace(self, monitor_id: str, spec_json: str, *, name: str | None = None
                ) -> ReplacedMonitor:
        """A new spec (and name); the detector's state is dropped, since it described the old
        metric, and an open incident of the old spec is closed now (and returned, so the
        caller can say so: no notification is sent for it). The same spec text (a rename)
        keeps both."""
        _check_json(spec_json)
        values: dict[str, object] = {"spec_json": spec_json}
        if name is not None:
            values["name"] = _check_name(name)
        is_open = (monitor_alerts.c.monitor_id == monitor_id) & (
            monitor_alerts.c.status == "firing")
        closed, now = None, datetime.now(UTC).timestamp()
        with self.db.begin() as conn:
            before = conn.execute(sa.select(monitors.c.spec_json).where(
                monitors.c.monitor_id == monitor_id)).scalar_one_or_none()
            self._update(conn, monitor_id, **values)
            if before != spec_json:
                conn.execute(monitor_states.delete().where(
                    monitor_states.c.monitor_id == monitor_id))
                firing = conn.execute(sa.select(monitor_alerts).where(is_open).order_by(
                    monitor_alerts.c.started_at.desc())).mappings().first()
                conn.execute(monitor_alerts.update().where(is_open).values(
                    status="resolved", resolved_at=now))
                if firing is not None:
                    closed = MonitorAlert(**(dict(firing) | {"status": "resolved",
                                                             "resolved_at": now}))
        return ReplacedMonitor(self.get(monitor_id), closed)

    def set_enabled(self, monitor_id: str, enabled: bool) -> StoredMonitor:
        with self.db.begin() as conn:
            self._update(conn, monitor_id, enabled=enabled)
        return self.get(monitor_id)

    def delete(self, monitor_id: str) -> None:
        """Remove a monitor and its state; its alerts stay as history."""
        with self.db.begin() as conn:
            deleted = conn.execute(monitors.delete().where(
                monitors.c.monitor_id == monitor_id)).rowcount
            conn.execute(monitor_states.delete().where(monitor_states.c.monitor_id == monitor_id))
        if not deleted:
            raise _unknown(monitor_id)

    # --- the detector's state -----------------------------------------------------------

    def load_state(self, monitor_id: str) -> SavedState | None:
        query = sa.select(monitor_states).where(monitor_states.c.monitor_id == monitor_id)
        with self.db.connect() as conn:
            found = conn.execute(query).mappings().first()
        if found is None:
            return None
        return SavedState(found["monitor_id"], found["state_json"], found["evaluated_until"])

    def save_state(self, monitor_id: str, state_json: str, evaluated_until: float | None) -> None:
        with self.db.begin() as conn:
            changed = conn.execute(monitor_states.update().where(
                monitor_states.c.monitor_id == monitor_id).values(
                    state_json=state_json, evaluated_until=evaluated_until)).rowcount
            if not changed:
                conn.execute(monitor_states.insert().values(
                    monitor_id=monitor_id, state_json=state_json,
                    evaluated_until=evaluated_until))

    # --- alerts -------------------------------------------------------------------------

    def open_alert(self, alert_id: str, monitor_id: str, app_id: str, direction: str,
                   started_at: float, observed: float, expected: float,
                   detail_json: str = "{}") -> bool:
        """Record an incident that fired; False (and no change) when it is recorded already."""
        if not 0 < len(alert_id) <= MAX_ALERT_ID_CHARS:
            raise MetadataError(f"an alert id has 1-{MAX_ALERT_ID_CHARS} characters",
                                code="bad_alert_id", hint="derive it from monitor and start")
        try:
            with self.db.begin() as conn:
                conn.execute(monitor_alerts.insert().values(
                    alert_id=alert_id, monitor_id=monitor_id, app_id=app_id, status="firing",
                    direction=direction, started_at=started_at, resolved_at=None,
                    observed=observed, expected=expected, detail_json=detail_json))
        except sa.exc.IntegrityError:
            return False
        return True

    def resolve_alert(self, alert_id: str, resolved_at: float,
                      detail_json: str | None = None) -> bool:
        """Close an incident; False when it was closed already; :class:`UnknownAlert` when
        there is no such alert."""
        values: dict[str, object] = {"status": "resolved", "resolved_at": resolved_at}
        if detail_json is not None:
            values["detail_json"] = detail_json
        with self.db.begin() as conn:
            changed = conn.execute(monitor_alerts.update().where(
                (monitor_alerts.c.alert_id == alert_id)
                & (monitor_alerts.c.status == "firing")).values(**values)).rowcount
            if not changed:
                known = conn.execute(sa.select(monitor_alerts.c.alert_id).where(
                    monitor_alerts.c.alert_id == alert_id)).first()
                if known is None:
                    raise _unknown_alert(alert_id)
        return bool(changed)

    def set_alert_detail(self, alert_id: str, detail_json: str) -> None:
        """Replace an alert's chart points (the runner adds buckets while it is open)."""
        with self.db.begin() as conn:
            changed = conn.execute(monitor_alerts.update().where(
                monitor_alerts.c.alert_id == alert_id).values(detail_json=detail_json)).rowcount
        if not changed:
            raise _unknown_alert(alert_id)

    def alerts(self, app_id: str | None = None, monitor_id: str | None = None,
               status: str | None = None, limit: int = 100) -> builtins.list[MonitorAlert]:
        """Alerts, newest incident first."""
        if status is not None and status not in ALERT_STATUSES:
            raise MetadataError(f"unknown alert status {status!r}", code="bad_alert_status",
                                hint="use firing or resolved")
        if not 0 < limit <= MAX_ALERTS_LISTED:
            raise MetadataError(f"limit must be 1-{MAX_ALERTS_LISTED}", code="bad_limit",
                                hint="page with a smaller limit")
        query = sa.select(monitor_alerts).order_by(monitor_alerts.c.started_at.desc(),
                                                   monitor_alerts.c.alert_id).limit(limit)
        for column, value in (("app_id", app_id), ("monitor_id", monitor_id),
                              ("status", status)):
            if value is not None:
                query = query.where(monitor_alerts.c[column] == value)
        with self.db.connect() as conn:
            return [MonitorAlert(**dict(r)) for r in conn.execute(query).mappings()]

    # --- one evaluator at a time --------------------------------------------------------

    def try_lead(self, holder: str, ttl_s: float, now: float) -> bool:
        """Take or renew the lease until ``now + ttl_s``; False while another holder has it."""
        if not 0 < len(holder) <= MAX_HOLDER_CHARS or not ttl_s > 0:
            raise MetadataError("a lease needs a holder of 1-64 characters and a ttl > 0",
                                code="bad_lease", hint="use the process's id as holder")
        lease = monitor_lease.c
        with self.db.begin() as conn:
            taken = conn.execute(monitor_lease.update().where(
                (lease.id == 1)
                & ((lease.holder == holder) | lease.holder.is_(None) | (lease.lease_until <= now))
            ).values(holder=holder, lease_until=now + ttl_s)).rowcount
        return bool(taken)

    def _update(self, conn: sa.Connection, monitor_id: str, **values: object) -> None:
        changed = conn.execute(monitors.update().where(monitors.c.monitor_id == monitor_id)
                               .values(updated_at=datetime.now(UTC), **values)).rowcount
        if not changed:
            raise _unknown(monitor_id)


def _check_app_id(app_id: str) -> None:
    try:
        validate_app_id(app_id)
    except LayoutError as exc:
        raise MetadataError(exc.message, code=exc.code, hint=exc.hint) from None


def _check_json(spec_json: str) -> None:
    hint = "store `spec.model_dump_json()` of a pipeline.monitors.MonitorSpec"
    if not spec_json.strip() or len(spec_json) > MAX_SPEC_JSON_CHARS:
        raise MetadataError(f"a monitor's JSON has 1-{MAX_SPEC_JSON_CHARS} characters",
                            code="bad_monitor", hint=hint)
    try:
        ok = isinstance(json.loads(spec_json), dict)
    except ValueError:
        ok = False
    if not ok:
        raise MetadataError("a monitor's spec must be one JSON object", code="bad_monitor",
                            hint=hint)


def _check_name(name: str) -> str:
    name = name.strip()
    if not 0 < len(name) <= MAX_NAME_CHARS:
        raise MetadataError(f"a monitor name has 1-{MAX_NAME_CHARS} characters",
                            code="bad_monitor_name", hint="give it a short label")
    return name


def _unknown(monitor_id: str) -> UnknownMonitor:
    return UnknownMonitor(f"no monitor with id {monitor_id!r}", hint=_MONITOR_HINT,
                          monitor_id=monitor_id)


def _unknown_alert(alert_id: str) -> UnknownAlert:
    return UnknownAlert(f"no alert with id {alert_id!r}", alert_id=alert_id,
                        hint="list the alerts to see their ids")


def _monitor(r: sa.RowMapping) -> StoredMonitor:
    return StoredMonitor(monitor_id=r["monitor_id"], app_id=r["app_id"], name=r["name"],
                         spec_json=r["spec_json"], enabled=bool(r["enabled"]),
                         created_by=r["created_by"], created_at=r["created_at"],
                         updated_at=r["updated_at"])
