"""``causality monitors`` (anomaly alerts on a metric) and ``causality alerts list``.

A monitor's spec is checked by :func:`pipeline.monitors.parse_monitor` (its errors name the
field, e.g. ``breakdown.key``), then against the stores: a known app, existing destinations;
``add`` and ``replace`` check alike. The reactor evaluates enabled monitors on its schedule;
alerts are its incidents.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, BinaryIO

import click
import orjson

from causality.cli._checks import (
    check_app,
    check_destinations,
    created_by,
    db,
    read_json_file,
    when,
)
from causality.errors import CausalityError

if TYPE_CHECKING:
    from metadata import MonitorStore, StoredMonitor
    from pipeline.monitors import MonitorSpec

METRICS = click.Choice(["events", "users", "sum"])
RESOLUTIONS = click.Choice(["hour", "day"])
SENSITIVITIES = click.Choice(["low", "medium", "high"])
KINDS = click.Choice(["anomaly", "no_events"])
ALERT_STATUSES = click.Choice(["firing", "resolved"])


def _store(ctx: click.Context) -> MonitorStore:
    from metadata import MonitorStore

    return MonitorStore(db(ctx))


def spec_from_flags(app_id: str | None, kind: str | None, metric: str | None,
                    prop: str | None, event_type: str | None, breakdown: str | None,
                    resolution: str | None, sensitivity: str | None,
                    silence_minutes: int | None, destinations: tuple[str, ...],
                    base: dict[str, Any] | None = None) -> MonitorSpec:
    """A spec from ``monitors add``'s flags, checked by :func:`pipeline.monitors.parse_monitor`;
    with ``base`` (a stored spec), the flags given replace only their own keys of it."""
    from pipeline.monitors import MonitorError, parse_monitor

    data: dict[str, Any] = {
        "app_id": app_id, "kind": kind, "metric": metric, "property": prop,
        "event_type": event_type, "resolution": resolution, "sensitivity": sensitivity,
        "silence_minutes": silence_minutes}
    data = {k: v for k, v in data.items() if v is not None}
    if breakdown is not None:
        key, sep, value = breakdown.partition("=")
        if not sep:
            raise MonitorError(f"breakdown: {breakdown[:80]!r} is not KEY=VALUE",
                               code="bad_value", field="breakdown",
                               hint="e.g. --breakdown plan=pro: only events whose property "
                                    "plan is pro")
        data["breakdown"] = {"key": key.strip(), "value": value}
    if destinations:
        data["destination_ids"] = list(destinations)
    return parse_monitor((base or {}) | data)


def _check_spec(ctx: click.Context, spec: MonitorSpec) -> None:
    check_app(ctx, spec.app_id)
    check_destinations(ctx, ((f"destination_ids[{i}]", d)
                             for i, d in enumerate(spec.destination_ids)))


def _default_name(spec: MonitorSpec) -> str:
    if spec.kind == "no_events":
        return f"{spec.app_id}: no events"
    what = f"sum of {spec.property}" if spec.metric == "sum" else spec.metric
    scope = f" of {spec.event_type}" if spec.event_type else ""
    if spec.breakdown is not None:
        scope += f" where {spec.breakdown.key}={spec.breakdown.value}"
    return f"{spec.app_id}: {what}{scope} per {spec.resolution}"[:200]


def _monitor_doc(stored: StoredMonitor) -> dict[str, Any]:
    try:
        spec: Any = orjson.loads(stored.spec_json)
    except ValueError:
        spec = stored.spec_json
    return {"id": stored.monitor_id, "name": stored.name, "app_id": stored.app_id,
            "enabled": stored.enabled, "created_by": stored.created_by,
            "created_at": when(stored.created_at), "updated_at": when(stored.updated_at),
            "spec": spec}


@click.group("monitors")
def monitors() -> None:
    """Anomaly monitors: watch a metric against its seasonal baseline, alert on spikes and
    drops, or on an app going silent."""


@monitors.command("add")
@click.option("--file", "source", type=click.File("rb"), default=None,
              help="A file holding the spec as JSON ('-' reads standard input). "
                   "Leave out to build it from the flags below.")
@click.option("--name", default=None, help="A label people recognise (default: made from the "
                                           "spec).")
@click.option("--id", "monitor_id", default=None, help="The monitor's id (default: random).")
@click.option("--app", "app_id", default=None, help="The app whose events it watches.")
@click.option("--kind", type=KINDS, default=None,
              help="anomaly (default): spikes and drops; no_events: tracking went silent.")
@click.option("--metric", type=METRICS, default=None,
              help="events (default), users (distinct), or sum (of --property).")
@click.option("--property", "prop", default=None, help="The numeric property --metric sum adds.")
@click.option("--event-type", default=None, help="Only this event type.")
@click.option("--breakdown", default=None, metavar="KEY=VALUE",
              help="Only events whose property KEY equals VALUE.")
@click.option("--resolution", type=RESOLUTIONS, default=None, help="hour (default) or day.")
@click.option("--sensitivity", type=SENSITIVITIES, default=None,
              help="low, medium (default) or high: how unusual a bucket must be to alert.")
@click.option("--silence-minutes", type=int, default=None,
              help="For no_events: minutes without events that count as silent (default 60).")
@click.option("--destination", "destinations", multiple=True, metavar="ID",
              help="A webhook destination for its alerts (repeatable; none: workspace only).")
@click.pass_context
def monitors_add(ctx: click.Context, source: BinaryIO | None, name: str | None,
                 monitor_id: str | None, app_id: str | None, kind: str | None,
                 metric: str | None, prop: str | None, event_type: str | None,
                 breakdown: str | None, resolution: str | None, sensitivity: str | None,
                 silence_minutes: int | None, destinations: tuple[str, ...]) -> None:
    """Add a monitor, from --file or from flags; checked before it is stored.

    \b
    Examples:
      causality monitors add --app shop --name "shop traffic"
      causality monitors add --app shop --event-type checkout_error --sensitivity high \\
        --destination d1e2f3
      causality monitors add --app shop --kind no_events --silence-minutes 30
      causality monitors add --file monitor.json --name "orders"
    """
    from pipeline.monitors import parse_monitor

    flags = (app_id, kind, metric, prop, event_type, breakdown, resolution, sensitivity,
             silence_minutes)
    if source is not None and (any(f is not None for f in flags) or destinations):
        raise click.UsageError("give either --file or the spec's flags, not both "
                               "(--name and --id go with either)")
    spec = (parse_monitor(read_json_file(source, "monitor")) if source is not None else
            spec_from_flags(app_id, kind, metric, prop, event_type, breakdown, resolution,
                            sensitivity, silence_minutes, destinations))
    _check_spec(ctx, spec)
    stored = _store(ctx).add(name or _default_name(spec), spec.app_id, spec.model_dump_json(),
                             created_by(), monitor_id=monitor_id)
    click.echo(f"added monitor {stored.monitor_id} ({stored.name})")


@monitors.command("replace")
@click.argument("monitor_id")
@click.option("--file", "source", type=click.File("rb"), default=None,
              help="A file holding the whole new spec as JSON ('-' reads standard input).")
@click.option("--name", default=None, help="A new label.")
@click.option("--kind", type=KINDS, default=None, help="anomaly or no_events.")
@click.option("--metric", type=METRICS, default=None, help="events, users or sum.")
@click.option("--property", "prop", default=None, help="The numeric property --metric sum adds.")
@click.option("--event-type", default=None, help="Only this event type.")
@click.option("--breakdown", default=None, metavar="KEY=VALUE",
              help="Only events whose property KEY equals VALUE.")
@click.option("--resolution", type=RESOLUTIONS, default=None, help="hour or day.")
@click.option("--sensitivity", type=SENSITIVITIES, default=None, help="low, medium or high.")
@click.option("--silence-minutes", type=int, default=None,
              help="For no_events: minutes without events that count as silent.")
@click.option("--destination", "destinations", multiple=True, metavar="ID",
              help="The webhook destinations for its alerts, in place of the old ones "
                   "(repeatable).")
@click.pass_context
def monitors_replace(ctx: click.Context, monitor_id: str, source: BinaryIO | None,
                     name: str | None, kind: str | None, metric: str | None, prop: str | None,
                     event_type: str | None, breakdown: str | None, resolution: str | None,
                     sensitivity: str | None, silence_minutes: int | None,
                     destinations: tuple[str, ...]) -> None:
    """Edit a monitor: a whole new spec from --file, or the stored spec with the flags given
    changed (to drop a key, use --file). Checked like `add`; its app stays.

    A changed spec starts the detector afresh, and an incident the old spec had open is
    closed (without a notification); an unchanged spec (only --name) keeps both.

    \b
    Examples:
      causality monitors replace 3f2a9c --sensitivity high
      causality monitors replace 3f2a9c --file monitor.json --name "orders"
    """
    from pipeline.monitors import parse_monitor

    flags = (kind, metric, prop, event_type, breakdown, resolution, sensitivity,
             silence_minutes)
    given = any(f is not None for f in flags) or bool(destinations)
    if source is not None and given:
        raise click.UsageError("give either --file or the spec's flags, not both "
                               "(--name goes with either)")
    if source is None and not given and name is None:
        raise click.UsageError("nothing to change: give --file, --name or a spec flag")
    store = _store(ctx)
    stored = store.get(monitor_id)
    spec_json = stored.spec_json  # only a new name: the spec, its state and incident stay
    if source is not None or given:
        if source is not None:
            spec = parse_monitor(read_json_file(source, "monitor"))
        else:  # the stored spec was checked when stored
            spec = spec_from_flags(None, kind, metric, prop, event_type, breakdown, resolution,
                                   sensitivity, silence_minutes, destinations,
                                   base=orjson.loads(stored.spec_json))
        if spec.app_id != stored.app_id:
            raise CausalityError(
                f"app_id: the new spec says {spec.app_id!r}, the monitor watches "
                f"{stored.app_id!r}", code="app_mismatch", field="app_id",
                monitor_id=monitor_id,
                hint="a monitor keeps its app; add a new monitor to watch another app")
        _check_spec(ctx, spec)
        spec_json = spec.model_dump_json()
    done = store.replace(monitor_id, spec_json, name=name)
    click.echo(f"replaced monitor {monitor_id} ({done.monitor.name})")
    closed = done.closed_alert
    if closed is not None:
        click.echo(f"its open incident was closed: alert {closed.alert_id} ({closed.direction} "
                   f"since {when(closed.started_at)}); no notification was sent for it")


@monitors.command("list")
@click.option("--app", "app_id", default=None, help="Only this app's monitors.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the specs in full).")
@click.pass_context
def monitors_list(ctx: click.Context, app_id: str | None, as_json: bool) -> None:
    """List monitors, oldest first: id, app, state, name."""
    docs = [_monitor_doc(m) for m in _store(ctx).list(app_id)]
    if as_json:
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    if not docs:
        click.echo("no monitors")
    for d in docs:
        state = "active" if d["enabled"] else "paused"
        click.echo(f"{d['id']:<18} {d['app_id']:<16} {state:<7} {d['name']}")


@monitors.command("show")
@click.argument("monitor_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def monitors_show(ctx: click.Context, monitor_id: str, as_json: bool) -> None:
    """Show one monitor: its spec, state and who made it."""
    doc = _monitor_doc(_store(ctx).get(monitor_id))
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    for key in ("id", "name", "app_id", "enabled", "created_by", "created_at", "updated_at"):
        click.echo(f"{key + ':':<12} {doc[key]}")
    click.echo("spec:")
    click.echo(json.dumps(doc["spec"], indent=2, ensure_ascii=False))


@monitors.command("pause")
@click.argument("monitor_id")
@click.pass_context
def monitors_pause(ctx: click.Context, monitor_id: str) -> None:
    """Stop evaluating a monitor; `resume` starts it again."""
    _store(ctx).set_enabled(monitor_id, False)
    click.echo(f"paused monitor {monitor_id}")


@monitors.command("resume")
@click.argument("monitor_id")
@click.pass_context
def monitors_resume(ctx: click.Context, monitor_id: str) -> None:
    """Evaluate a paused monitor again."""
    _store(ctx).set_enabled(monitor_id, True)
    click.echo(f"resumed monitor {monitor_id}")


@monitors.command("delete")
@click.argument("monitor_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def monitors_delete(ctx: click.Context, monitor_id: str, yes: bool) -> None:
    """Delete a monitor and its state; its alerts stay as history."""
    store = _store(ctx)
    store.get(monitor_id)
    if not yes:
        click.confirm(f"delete monitor {monitor_id}?", abort=True)
    store.delete(monitor_id)
    click.echo(f"deleted monitor {monitor_id}")


@click.group("alerts")
def alerts() -> None:
    """Alerts raised by monitors: one per incident, firing until it resolves."""


@alerts.command("list")
@click.option("--app", "app_id", default=None, help="Only this app's alerts.")
@click.option("--monitor", "monitor_id", default=None, help="Only this monitor's alerts.")
@click.option("--status", type=ALERT_STATUSES, default=None, help="Only in this state.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Show at most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the charted points).")
@click.pass_context
def alerts_list(ctx: click.Context, app_id: str | None, monitor_id: str | None,
                status: str | None, limit: int, as_json: bool) -> None:
    """List alerts, newest first: monitor, state, direction, observed vs expected."""
    rows = _store(ctx).alerts(app_id=app_id, monitor_id=monitor_id, status=status, limit=limit)
    docs: list[dict[str, Any]] = []
    for a in rows:
        try:
            detail: Any = orjson.loads(a.detail_json)
        except ValueError:
            detail = a.detail_json
        docs.append({"id": a.alert_id, "monitor_id": a.monitor_id, "app_id": a.app_id,
                     "status": a.status, "direction": a.direction,
                     "started_at": when(a.started_at), "resolved_at": when(a.resolved_at),
                     "observed": a.observed, "expected": a.expected, "detail": detail})
    if as_json:
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    if not docs:
        click.echo("no alerts")
    for d in docs:
        until = f" -> {d['resolved_at']}" if d["resolved_at"] else ""
        click.echo(f"{d['id']}  {d['monitor_id']:<18} {d['app_id']:<16} {d['status']:<8} "
                   f"{d['direction']:<5} observed={d['observed']:g} expected={d['expected']:g}"
                   f"  {d['started_at']}{until}")


COMMANDS = (monitors, alerts)
