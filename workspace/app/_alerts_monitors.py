"""The Alerts page's Monitors tab: anomaly monitors of the person's apps, paused, resumed,
edited and deleted, and one form that composes a monitor spec, new or in place of a stored
one; the pipeline's parser (through the workspace's `ReactionsPort`) judges it and names the
field of any mistake."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from causality.errors import CausalityError
from metadata.monitors import MonitorStore, StoredMonitor
from metadata.users import User
from workspace.app._alerts_common import app_scope, field_error, flash, loads, may_manage
from workspace.app._look import plain
from workspace.app._results import show_error
from workspace.app._scope import known_apps
from workspace.reactions import ReactionsError, ReactionsPort
from workspace.service import Workspace

KINDS = ("anomaly", "no_events")
METRICS = ("events", "users", "sum")
RESOLUTIONS = ("hour", "day")
SENSITIVITIES = ("medium", "low", "high")
SILENCE_MINUTES = 60
EDITING_KEY = "alerts.monitor.editing"
_KEYS = {"name": "alerts.monitor.name", "app_id": "alerts.monitor.app",
         "kind": "alerts.monitor.kind", "metric": "alerts.monitor.metric",
         "property": "alerts.monitor.property", "event_type": "alerts.monitor.event_type",
         "breakdown_key": "alerts.monitor.breakdown_key",
         "breakdown_value": "alerts.monitor.breakdown_value",
         "resolution": "alerts.monitor.resolution", "sensitivity": "alerts.monitor.sensitivity",
         "silence_minutes": "alerts.monitor.silence",
         "destination_ids": "alerts.monitor.destinations"}


def monitors_tab(ws: Workspace, port: ReactionsPort, user: User) -> None:
    store = MonitorStore(ws.db)
    found = store.list(app_scope(user))
    if found:
        st.dataframe([_row(m.monitor_id, m.name, m.app_id, m.enabled, loads(m.spec_json))
                      for m in found], hide_index=True, key="alerts.monitors_table")
        _actions(ws, store, user, {m.monitor_id: m.name for m in found})
    else:
        st.caption("No monitors yet. A monitor watches a metric of one app hour by hour (or "
                   "day by day) against the same hour of past weeks, and alerts on a spike, a "
                   "drop, or silence.")
    _form(ws, port, store, user)


def _row(monitor_id: str, name: str, app_id: str, enabled: bool,
         spec: dict[str, Any]) -> dict[str, object]:
    metric = spec.get("metric", "events")
    if metric == "sum":
        metric = f"sum of {spec.get('property')}"
    return {"monitor": name, "id": monitor_id, "app": app_id,
            "status": "active" if enabled else "paused", "kind": spec.get("kind", "anomaly"),
            "metric": metric, "event type": spec.get("event_type") or "any",
            "resolution": spec.get("resolution", "hour"),
            "sensitivity": spec.get("sensitivity", "medium"),
            "destinations": ", ".join(spec.get("destination_ids") or [])}


def _actions(ws: Workspace, store: MonitorStore, user: User, names: dict[str, str]) -> None:
    pick, toggle, edit, delete = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
    chosen = pick.selectbox("Monitor", list(names), key="alerts.monitor.pick",
                            format_func=lambda m: f"{names[m]} ({m})")
    if chosen is None:
        return
    try:  # deleted since the list was read, perhaps by someone else
        monitor = store.get(chosen)
    except CausalityError as err:
        show_error(err)
        return
    if toggle.button("Resume" if not monitor.enabled else "Pause", key="alerts.monitor.toggle",
                     width="stretch") and may_manage(ws, user, monitor.app_id):
        try:
            store.set_enabled(chosen, not monitor.enabled)
        except CausalityError as err:
            show_error(err)
            return
        flash(f"Monitor {plain(monitor.name)} {'resumed' if not monitor.enabled else 'paused'}.")
    if edit.button("Edit", key="alerts.monitor.edit", width="stretch") and may_manage(
            ws, user, monitor.app_id):
        _load(monitor)
        st.rerun()
    if delete.button("Delete", key="alerts.monitor.delete", width="stretch") and may_manage(
            ws, user, monitor.app_id):
        try:
            store.delete(chosen)
        except CausalityError as err:
            show_error(err)
            return
        if st.session_state.get(EDITING_KEY) == chosen:
            _clear()
        flash(f"Monitor {plain(monitor.name)} deleted; its alerts stay in the history.")


def _load(monitor: StoredMonitor) -> None:
    """Put a stored monitor into the form's inputs."""
    spec = loads(monitor.spec_json)
    breakdown = spec.get("breakdown") or {}
    state = st.session_state
    state[EDITING_KEY] = monitor.monitor_id
    state[_KEYS["name"]] = monitor.name
    state[_KEYS["app_id"]] = monitor.app_id
    for key, options in (("kind", KINDS), ("metric", METRICS), ("resolution", RESOLUTIONS),
                         ("sensitivity", SENSITIVITIES)):
        value = spec.get(key)
        state[_KEYS[key]] = value if value in options else options[0]
    for key in ("property", "event_type"):
        state[_KEYS[key]] = str(spec.get(key) or "")
    state[_KEYS["breakdown_key"]] = str(breakdown.get("key") or "")
    state[_KEYS["breakdown_value"]] = str(breakdown.get("value") or "")
    silence = spec.get("silence_minutes")
    state[_KEYS["silence_minutes"]] = silence if isinstance(silence, int) else SILENCE_MINUTES
    state[_KEYS["destination_ids"]] = [str(d) for d in spec.get("destination_ids") or []]


def _clear() -> None:
    for key in (EDITING_KEY, *_KEYS.values()):
        st.session_state.pop(key, None)


def _form(ws: Workspace, port: ReactionsPort, store: MonitorStore, user: User) -> None:
    editing = st.session_state.get(EDITING_KEY)
    try:
        destinations = {d.destination_id: d.name
                        for d in port.destinations.list(include_disabled=False)}
    except CausalityError as err:
        show_error(err)
        return
    st.subheader(f"Edit monitor {plain(editing)}" if editing else "New monitor")
    chosen_key = _KEYS["destination_ids"]  # a destination disabled or deleted since is no option
    st.session_state[chosen_key] = [d for d in st.session_state.get(chosen_key, [])
                                    if d in destinations]
    st.session_state.setdefault(_KEYS["silence_minutes"], SILENCE_MINUTES)
    slots = {}
    with st.form("alerts_monitor_form", border=True):
        left, right = st.columns(2)
        name = left.text_input("Name", key=_KEYS["name"], placeholder="Checkout drops")
        slots["name"] = left.empty()
        if user.app_id is not None:
            right.text_input("App", value=user.app_id, disabled=True,
                             key="alerts.monitor.own_app")
            app = user.app_id
        else:
            apps = known_apps(ws)
            app = right.text_input("App", key=_KEYS["app_id"], disabled=bool(editing),
                                   help="known apps: " + (", ".join(apps) or "none yet"))
        slots["app_id"] = right.empty()
        kind = left.selectbox("Kind", KINDS, key=_KEYS["kind"],
                              help="no_events: the app sends nothing for a while")
        slots["kind"] = left.empty()
        metric = right.selectbox("Metric", METRICS, key=_KEYS["metric"])
        slots["metric"] = right.empty()
        prop = left.text_input("Property (for sum)", key=_KEYS["property"],
                               placeholder="cart.total")
        slots["property"] = left.empty()
        event_type = right.text_input("Event type (empty: all)", key=_KEYS["event_type"])
        slots["event_type"] = right.empty()
        b_key = left.text_input("Only where property", key=_KEYS["breakdown_key"],
                                placeholder="plan")
        b_value = right.text_input("equals", key=_KEYS["breakdown_value"], placeholder="pro")
        slots["breakdown"] = st.empty()
        first, second, third = st.columns(3)
        resolution = first.selectbox("Resolution", RESOLUTIONS, key=_KEYS["resolution"])
        sensitivity = second.selectbox("Sensitivity", SENSITIVITIES, key=_KEYS["sensitivity"])
        silence = third.number_input("Silence minutes (no_events)", min_value=1,
                                     key=_KEYS["silence_minutes"])
        slots["resolution"] = st.empty()
        slots["silence_minutes"] = st.empty()
        chosen = st.multiselect("Destinations", list(destinations), key=chosen_key,
                                format_func=lambda d: f"{destinations.get(d, d)} ({d})")
        slots["destination_ids"] = st.empty()
        slots["monitor"] = st.empty()
        save_col, cancel_col = st.columns([1, 3], vertical_alignment="bottom")
        save = save_col.form_submit_button("Save monitor" if editing else "Create monitor",
                                           type="primary", key="alerts.monitor.save")
        cancel = cancel_col.form_submit_button("New monitor", key="alerts.monitor.new",
                                               disabled=not editing)
    if cancel:
        _clear()
        st.rerun()
    if not save:
        return
    spec: dict[str, Any] = {"app_id": app.strip(), "kind": kind, "resolution": resolution,
                            "sensitivity": sensitivity, "destination_ids": chosen}
    if kind == "no_events":
        spec["silence_minutes"] = int(silence)
    else:
        spec["metric"] = metric
        for key, value in (("property", prop.strip()), ("event_type", event_type.strip())):
            if value:
                spec[key] = value
        if b_key.strip():
            spec["breakdown"] = {"key": b_key.strip(), "value": b_value}
    try:
        spec_json = port.check_monitor(json.dumps(spec))
        scope = ws.scope(user, app.strip())
        if editing:
            stored_app = store.get(editing).app_id  # UnknownMonitor if deleted meanwhile
            if str(scope) != stored_app:
                raise ReactionsError(
                    f"app_id: the monitor watches {stored_app!r}, not {str(scope)!r}",
                    code="app_mismatch", field="app_id",
                    hint="a monitor keeps its app; create a new monitor for another app")
            done = store.replace(editing, spec_json, name=name)
            made, closed = done.monitor, done.closed_alert is not None
        else:
            made, closed = store.add(name, str(scope), spec_json, user.username), False
    except CausalityError as err:
        field_error(slots, err, "monitor")
        return
    _clear()
    flash(f"Monitor {plain(made.name)} {'saved' if editing else 'created'}."
          + (" Its open incident was closed; no notification was sent for it." if closed
             else ""))
