"""Alerts (analysts and admins): event rules and anomaly monitors, the webhook delivery log,
the alert history with its charts; admins also manage the webhook destinations.

The reactor's rule logic reaches the page through `Workspace.reactions`, a port the
composition root supplies; without it the page says reactions are not configured.
"""

from __future__ import annotations

import streamlit as st

from causality.errors import CausalityError
from metadata.reactions import Destination
from workspace.app._alerts_common import flash, show_flash, when
from workspace.app._alerts_log import alerts_tab, deliveries_tab
from workspace.app._alerts_monitors import monitors_tab
from workspace.app._alerts_rules import rules_tab
from workspace.app._context import page_context
from workspace.app._look import code, plain
from workspace.app._results import show_error
from workspace.reactions import ReactionsPort

SHOWN_ONCE = "alerts.dest.secret"  # (destination id, secret): shown on one run, then gone

ctx = page_context("analyst")
ws, user = ctx.ws, ctx.user
port = ws.reactions

st.title("Alerts")
st.caption("Rules send a signed webhook when an event meets their conditions; monitors alert "
           "when a metric leaves its usual range. Both deliver through the same outbox.")
show_flash()


def _destinations(port: ReactionsPort) -> None:
    shown = st.session_state.pop(SHOWN_ONCE, None)
    if shown:
        st.warning(f"The signing secret of destination {plain(shown[0])}. Copy it now: it is "
                   "shown only this once. Receivers verify each webhook's signature with it.",
                   icon=":material/key:")
        st.code(shown[1], language=None)
    try:
        destinations = port.destinations.list()
    except CausalityError as err:
        show_error(err)
        return
    if destinations:
        st.dataframe([{"name": d.name, "id": d.destination_id, "url": d.url,
                       "status": "disabled" if d.disabled else "active",
                       "created by": d.created_by,
                       "created": when(d.created_at.timestamp())} for d in destinations],
                     hide_index=True, key="alerts.destinations_table")
        _manage(port, {d.destination_id: d for d in destinations})
    else:
        st.caption("No destinations yet.")
    with st.form("alerts_destination_form", clear_on_submit=True):
        left, right = st.columns(2)
        name = left.text_input("Name", key="alerts.dest.name", placeholder="Ops Slack relay")
        url = right.text_input("URL", key="alerts.dest.url",
                               placeholder="https://hooks.example.com/causality")
        add = st.form_submit_button("Add destination", type="primary", key="alerts.dest.add")
    if add:
        try:
            made = port.destinations.add(name, url, user.username)
        except CausalityError as err:
            show_error(err)
        else:
            st.session_state[SHOWN_ONCE] = (made.destination.destination_id, made.secret)
            st.rerun()


def _manage(port: ReactionsPort, destinations: dict[str, Destination]) -> None:
    pick, rotate, switch, delete = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
    chosen = pick.selectbox("Destination", list(destinations), key="alerts.dest.pick",
                            format_func=lambda d: f"{destinations[d].name} ({d})")
    if chosen is None:
        return
    disabled = destinations[chosen].disabled
    try:
        if rotate.button("Rotate secret", key="alerts.dest.rotate", width="stretch"):
            st.session_state[SHOWN_ONCE] = (chosen, port.destinations.rotate(chosen))
            st.rerun()
        if switch.button("Enable" if disabled else "Disable", key="alerts.dest.switch",
                         width="stretch"):
            port.destinations.set_disabled(chosen, not disabled)
            flash(f"Destination {plain(chosen)} {'enabled' if disabled else 'disabled'}.")
        if delete.button("Delete", key="alerts.dest.delete", width="stretch"):
            port.destinations.delete(chosen)
            flash(f"Destination {plain(chosen)} deleted.")
    except CausalityError as err:
        show_error(err)


if port is None:
    st.info("Reactions are not configured for this workspace: start it with `causality "
            "workspace` (or `causality up`), which supplies the reactor's rules and keys.")
else:
    names = ["Rules", "Monitors", "Deliveries", "Alerts"]
    if user.can("admin"):
        names.append("Destinations")
    tabs = st.tabs(names)
    with tabs[0]:
        rules_tab(ws, port, user)
    with tabs[1]:
        monitors_tab(ws, port, user)
    with tabs[2]:
        deliveries_tab(ws, user)
    with tabs[3]:
        alerts_tab(ws, user)
    if user.can("admin"):
        with tabs[4]:
            st.caption("Where webhooks go. Each destination signs its deliveries with its own "
                       "secret (Standard Webhooks) " + code("whsec_…") + ".")
            _destinations(port)
