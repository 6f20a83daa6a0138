"""The Alerts page's Rules tab: the rules of the person's apps, switched on and off, deleted,
and one form to create or edit a rule and to test it against an app's latest events.

A rule is composed as JSON from the form and checked by the reactor's own parser (through the
workspace's `ReactionsPort`); an error appears under the input it names. A test reads the last
events of the rule's app through the guardrails, as the signed-in person, and says for each
whether the rule would have matched it, and why not.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from causality.errors import CausalityError
from metadata.reactions import RuleStore
from metadata.users import User
from workspace.app._alerts_common import (
    app_scope,
    field_error,
    flash,
    loads,
    may_manage,
    parse_input,
    plain_list,
)
from workspace.app._look import code, plain
from workspace.app._results import show_error
from workspace.app._scope import known_apps
from workspace.reactions import EventVerdict, ReactionsPort
from workspace.service import Workspace

TEST_EVENTS = 50
MAX_TEST_EVENTS = 500
EVENT_COLUMNS = ("event_id, event_type, category, user_id, anonymous_id, session_id, "
                 "event_time, received_at, properties, context, app_id")
EDITING_KEY = "alerts.rule.editing"
TEST_KEY = "alerts.rule.tested"
_FIELDS = {"id": "alerts.rule.id", "app_id": "alerts.rule.app", "category": "alerts.rule.category",
           "event_type": "alerts.rule.event_type", "conditions": "alerts.rule.conditions",
           "max_firings": "alerts.rule.max_firings", "window_s": "alerts.rule.window_s",
           "per_user": "alerts.rule.per_user", "actions": "alerts.rule.destinations"}
CONDITIONS_HELP = ('One JSON condition, e.g. {"and": [{"eq": {"field": "properties.plan", '
                   '"value": "pro"}}, {"gt": {"field": "properties.total", "value": 100}}]}. '
                   "Operators: and, or, not, eq, ne, in, gt, gte, lt, lte, contains, exists, "
                   "regex. Empty: every event of the type matches.")


def rules_tab(ws: Workspace, port: ReactionsPort, user: User) -> None:
    store = RuleStore(ws.db)
    rules = store.list(app_scope(user))
    if rules:
        st.dataframe([_row(r.rule_id, r.app_id, r.enabled, loads(r.rule_json)) for r in rules],
                     hide_index=True, key="alerts.rules_table")
        _actions(ws, store, user, [r.rule_id for r in rules])
    else:
        st.caption("No rules yet. A rule sends a signed webhook when an event of its app, "
                   "category and type meets its conditions.")
    _form(ws, port, store, user)
    tested = st.session_state.get(TEST_KEY)
    if isinstance(tested, list):
        show_verdicts(tested)


def _row(rule_id: str, app_id: str, enabled: bool, body: dict[str, Any]) -> dict[str, object]:
    throttle = body.get("throttle") or {}
    return {"rule": rule_id, "app": app_id, "status": "active" if enabled else "paused",
            "category": body.get("category") or "any",
            "event type": body.get("event_type") or "any",
            "conditions": json.dumps(body.get("conditions"))[:120] if body.get("conditions")
            else "none",
            "throttle": (f"{throttle.get('max_firings')} per {throttle.get('window_s')} s"
                         + (" per user" if throttle.get("per_user") else "")) if throttle
            else "none",
            "destinations": ", ".join(a.get("destination_id", "")
                                      for a in body.get("actions") or [])}


def _actions(ws: Workspace, store: RuleStore, user: User, ids: list[str]) -> None:
    pick, toggle, edit, delete = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
    chosen = pick.selectbox("Rule", ids, key="alerts.rule.pick")
    if chosen is None:
        return
    try:  # deleted since the list was read, perhaps by someone else
        rule = store.get(chosen)
    except CausalityError as err:
        show_error(err)
        return
    if toggle.button("Resume" if not rule.enabled else "Pause", key="alerts.rule.toggle",
                     width="stretch") and may_manage(ws, user, rule.app_id):
        try:
            store.set_enabled(chosen, not rule.enabled)
        except CausalityError as err:
            show_error(err)
            return
        flash(f"Rule {plain(chosen)} {'resumed' if not rule.enabled else 'paused'}.")
    if edit.button("Edit", key="alerts.rule.edit", width="stretch") and may_manage(
            ws, user, rule.app_id):
        _load(chosen, rule.app_id, loads(rule.rule_json))
        st.rerun()
    if delete.button("Delete", key="alerts.rule.delete", width="stretch") and may_manage(
            ws, user, rule.app_id):
        try:
            store.delete(chosen)
        except CausalityError as err:
            show_error(err)
            return
        flash(f"Rule {plain(chosen)} deleted.")


def _load(rule_id: str, app_id: str, body: dict[str, Any]) -> None:
    """Put a stored rule into the form's inputs."""
    throttle = body.get("throttle") or {}
    state = st.session_state
    state[EDITING_KEY] = rule_id
    state[_FIELDS["id"]] = rule_id
    state[_FIELDS["app_id"]] = app_id
    state[_FIELDS["category"]] = body.get("category") or ""
    state[_FIELDS["event_type"]] = body.get("event_type") or ""
    conditions = body.get("conditions")
    state[_FIELDS["conditions"]] = json.dumps(conditions, indent=2) if conditions else ""
    state[_FIELDS["max_firings"]] = int(throttle.get("max_firings") or 0)
    state[_FIELDS["window_s"]] = float(throttle.get("window_s") or 60.0)
    state[_FIELDS["per_user"]] = bool(throttle.get("per_user"))
    state[_FIELDS["actions"]] = [a.get("destination_id") for a in body.get("actions") or []]
    state.pop(TEST_KEY, None)


def _form(ws: Workspace, port: ReactionsPort, store: RuleStore, user: User) -> None:
    editing = st.session_state.get(EDITING_KEY)
    try:
        destinations = [d.destination_id for d in port.destinations.list(include_disabled=False)]
        names = {d.destination_id: d.name for d in port.destinations.list()}
    except CausalityError as err:
        show_error(err)
        return
    st.subheader(f"Edit rule {plain(editing)}" if editing else "New rule")
    if not destinations:
        st.info("No webhook destination yet: an admin adds one on the Destinations tab.")
    chosen_key = _FIELDS["actions"]  # a destination disabled or deleted since is no option
    st.session_state[chosen_key] = [d for d in st.session_state.get(chosen_key, [])
                                    if d in destinations]
    st.session_state.setdefault(_FIELDS["window_s"], 60.0)
    st.session_state.setdefault("alerts.rule.n", TEST_EVENTS)
    slots = {}
    with st.form("alerts_rule_form", border=True):
        left, right = st.columns(2)
        rule_id = left.text_input("Rule id", key=_FIELDS["id"], disabled=bool(editing),
                                  placeholder="big-orders", help="unique; 1-128 characters")
        slots["id"] = left.empty()
        app = _app_input(ws, user, right, disabled=bool(editing))
        slots["app_id"] = right.empty()
        category = left.text_input("Category (name or glob)", key=_FIELDS["category"],
                                   placeholder="any", help="* any run of characters, ? one")
        slots["category"] = left.empty()
        event_type = right.text_input("Event type (name or glob)", key=_FIELDS["event_type"],
                                      placeholder="checkout_*", help="empty: any event type")
        slots["event_type"] = right.empty()
        conditions = st.text_area("Conditions (JSON)", key=_FIELDS["conditions"], height=160,
                                  help=CONDITIONS_HELP)
        slots["conditions"] = st.empty()
        first, second, third = st.columns(3, vertical_alignment="bottom")
        max_firings = first.number_input("Throttle: at most (0 = no throttle)", min_value=0,
                                         step=1, key=_FIELDS["max_firings"])
        window_s = second.number_input("firings per seconds", min_value=1.0,
                                       key=_FIELDS["window_s"])
        per_user = third.checkbox("per user", key=_FIELDS["per_user"])
        slots["throttle"] = st.empty()
        chosen = st.multiselect("Destinations", destinations, key=_FIELDS["actions"],
                                format_func=lambda d: f"{names.get(d, d)} ({d})")
        slots["actions"] = st.empty()
        slots["rule"] = st.empty()
        save_col, test_col, n_col, cancel_col = st.columns([1, 1, 1, 1],
                                                           vertical_alignment="bottom")
        save = save_col.form_submit_button("Save rule", type="primary", key="alerts.rule.save")
        test = test_col.form_submit_button("Test rule", key="alerts.rule.test")
        n = n_col.number_input("Last N events", min_value=1, max_value=MAX_TEST_EVENTS,
                               key="alerts.rule.n")
        cancel = cancel_col.form_submit_button("New rule", key="alerts.rule.new",
                                               disabled=not editing)
    if cancel:
        for key in (EDITING_KEY, TEST_KEY, *_FIELDS.values()):
            st.session_state.pop(key, None)
        st.rerun()
    if not (save or test):
        return
    try:
        rule_json = port.check_rule(_compose(rule_id.strip(), app, category, event_type,
                                             conditions, int(max_firings), float(window_s),
                                             per_user, chosen))
        scope = ws.scope(user, loads(rule_json).get("app_id"))
    except CausalityError as err:
        field_error(slots, err, "rule")
        return
    if test:
        st.session_state[TEST_KEY] = _test(ws, port, user, rule_json, str(scope), int(n))
        return
    try:
        if editing:
            store.replace(editing, rule_json)
        else:
            store.add(rule_id.strip(), str(scope), rule_json, user.username)
    except CausalityError as err:
        field_error(slots, err, "rule")
        return
    st.session_state.pop(EDITING_KEY, None)
    flash(f"Rule {plain(editing or rule_id.strip())} saved.")


def _app_input(ws: Workspace, user: User, column: Any, *, disabled: bool) -> str:
    if user.app_id is not None:
        column.text_input("App", value=user.app_id, disabled=True, key="alerts.rule.own_app",
                          help="your account manages only this app")
        return user.app_id
    apps = known_apps(ws)
    return str(column.text_input("App", key=_FIELDS["app_id"], disabled=disabled,
                                 placeholder=apps[0] if apps else "shop",
                                 help="known apps: " + (", ".join(apps) or "none yet")))


def _compose(rule_id: str, app: str, category: str, event_type: str, conditions: str,
             max_firings: int, window_s: float, per_user: bool, destinations: list[str]) -> str:
    """The form as rule JSON; the reactor's parser judges it, except unreadable conditions."""
    body: dict[str, Any] = {"id": rule_id, "app_id": app.strip(),
                            "actions": [{"type": "webhook", "destination_id": d}
                                        for d in destinations]}
    for name, value in (("category", category.strip()), ("event_type", event_type.strip())):
        if value:
            body[name] = value
    if conditions.strip():
        body["conditions"] = parse_input(
            conditions, "conditions",
            hint='write one JSON object, e.g. {"eq": {"field": "properties.plan", "value": '
                 '"pro"}}')
    if max_firings > 0:
        body["throttle"] = {"max_firings": max_firings, "window_s": window_s,
                            "per_user": per_user}
    return json.dumps(body)


def _test(ws: Workspace, port: ReactionsPort, user: User, rule_json: str, app: str,
          n: int) -> list[EventVerdict] | None:
    """The verdicts for the app's last ``n`` events, read through the guardrails."""
    quoted = app.replace("'", "''")
    sql = (f"SELECT {EVENT_COLUMNS} FROM events WHERE app_id = '{quoted}' "
           f"ORDER BY received_at DESC, event_id LIMIT {n}")
    try:
        run = ws.run_sql(sql, user=user, app_id=app, source="sql",
                         question="Alerts: test a rule")
        return port.explain(rule_json, run.table.to_pylist())
    except CausalityError as err:
        show_error(err)
        return None


def show_verdicts(verdicts: list[EventVerdict]) -> None:
    matched = sum(v.matches for v in verdicts)
    st.markdown(f"**Test:** {matched} of {len(verdicts)} recent events would have matched.")
    if not verdicts:
        st.caption("The app has no events yet.")
        return
    st.dataframe([{"event time": v.event_time, "event type": v.event_type,
                   "matched": "matched" if v.matches else "not matched",
                   "why not": v.reasons[0] if v.reasons else ""} for v in verdicts],
                 hide_index=True, key="alerts.rule.verdicts")
    for i, verdict in enumerate(verdicts[:20]):
        label = "matched" if verdict.matches else "not matched"
        with st.expander(f"{verdict.event_type} · {verdict.event_time} · {label}"):
            for reason in verdict.reasons:
                st.markdown(f"- {plain(reason, limit=400)}")
            if verdict.leaves:
                st.dataframe([{"at": leaf.at, "field": leaf.field, "operator": leaf.operator,
                               "expected": leaf.expected, "actual": leaf.actual,
                               "result": leaf.result} for leaf in verdict.leaves],
                             hide_index=True, key=f"alerts.rule.leaves.{i}")
            st.caption("Event " + code(verdict.event_id) + " · scope: " + plain_list(
                [f"{s.field} {'ok' if s.matched else 'no'}" for s in verdict.scope]))
