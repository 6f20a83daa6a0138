"""The Alerts page's logs: the webhook delivery log (status, attempts, the last response, each
attempt on request) and the monitors' alert history with the chart of the monitored series,
its expected band and the anomalous buckets marked."""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from charts import PALETTE, PRIMARY, TEMPLATE_NAME
from metadata.monitors import MonitorAlert, MonitorStore
from metadata.outbox import Outbox
from metadata.users import User
from workspace.app._alerts_common import app_scope, excerpt, when
from workspace.service import Workspace

DELIVERY_ROWS = 200
ALERT_ROWS = 200
STATUSES = ("pending", "delivered", "dead")
ANOMALY = PALETTE[1]  # vermillion


def deliveries_tab(ws: Workspace, user: User) -> None:
    outbox = Outbox(ws.db)
    status = st.selectbox("Status", ["", *STATUSES], key="alerts.delivery.status",
                          format_func=lambda s: s or "any")
    rows = outbox.deliveries(app_id=app_scope(user), status=status or None,
                             limit=DELIVERY_ROWS)
    if not rows:
        st.caption("No deliveries yet: a rule or monitor that fires sends one webhook to each "
                   "of its destinations, retried until delivered or dead.")
        return
    by_status = {s: sum(r.status == s for r in rows) for s in STATUSES}
    st.caption(f"The latest {len(rows)} deliveries: " + " · ".join(
        f"{n} {s}" for s, n in by_status.items()))
    st.dataframe([{"fired": when(r.fired_at), "source": r.source, "rule or monitor": r.source_id,
                   "app": r.app_id, "destination": r.destination_id, "status": r.status,
                   "attempts": r.attempts, "last HTTP status": r.last_status,
                   "last error": excerpt(r.last_error), "next attempt":
                   when(r.next_attempt_at) if r.status == "pending" else "",
                   "webhook id": r.webhook_id} for r in rows],
                 hide_index=True, key="alerts.deliveries_table")
    ids = [r.delivery_id for r in rows]
    chosen = st.selectbox("Attempts of delivery", ids, key="alerts.delivery.pick",
                          format_func=lambda d: _label(rows[ids.index(d)]))
    if chosen is None:
        return
    with st.expander("Attempts", expanded=True):
        attempts = outbox.attempts(chosen)
        if not attempts:
            st.caption("Not attempted yet.")
        st.dataframe([{"attempt": a.attempt, "at": when(a.at), "outcome": a.outcome,
                       "HTTP status": a.http_status, "latency ms": a.latency_ms,
                       "response": excerpt(a.response, 500)} for a in attempts],
                     hide_index=True, key="alerts.attempts_table")


def _label(row: Any) -> str:
    return f"{when(row.fired_at)} · {row.source_id} → {row.destination_id} · {row.status}"


def alerts_tab(ws: Workspace, user: User) -> None:
    store = MonitorStore(ws.db)
    alerts = store.alerts(app_id=app_scope(user), limit=ALERT_ROWS)
    if not alerts:
        st.caption("No alerts yet: a monitor raises one when its metric leaves the expected "
                   "band, and resolves it when the metric is back.")
        return
    names = {m.monitor_id: m.name for m in store.list(app_scope(user))}
    st.dataframe([{"monitor": names.get(a.monitor_id, a.monitor_id), "app": a.app_id,
                   "status": a.status, "direction": a.direction, "started": when(a.started_at),
                   "resolved": when(a.resolved_at), "observed": a.observed,
                   "expected": a.expected} for a in alerts],
                 hide_index=True, key="alerts.history_table")
    ids = [a.alert_id for a in alerts]
    chosen = st.selectbox("Chart of alert", ids, key="alerts.alert.pick",
                          format_func=lambda i: _alert_label(alerts[ids.index(i)], names))
    if chosen is not None:
        alert = alerts[ids.index(chosen)]
        figure = alert_figure(alert, names.get(alert.monitor_id, alert.monitor_id))
        if figure is None:
            st.caption("This alert has no points to chart.")
        else:
            st.plotly_chart(figure, key="alerts.alert.chart", theme=None)


def _alert_label(alert: MonitorAlert, names: dict[str, str]) -> str:
    return (f"{names.get(alert.monitor_id, alert.monitor_id)} · {when(alert.started_at)} · "
            f"{alert.direction} · {alert.status}")


def alert_figure(alert: MonitorAlert, title: str) -> go.Figure | None:
    """The points in ``detail_json`` (``{"points": [{"at", "value", "expected": [low, high],
    "anomalous"}]}``) as a line, the expected band shaded and anomalous buckets marked."""
    try:
        points = json.loads(alert.detail_json).get("points") or []
    except (ValueError, AttributeError):
        return None
    points = [p for p in points if isinstance(p, dict) and "at" in p and "value" in p]
    if not points:
        return None
    at = [p["at"] for p in points]
    figure = go.Figure()
    banded = [p for p in points if isinstance(p.get("expected"), list)
              and len(p["expected"]) == 2]
    if banded:
        figure.add_trace(go.Scatter(x=[p["at"] for p in banded],
                                    y=[p["expected"][1] for p in banded], mode="lines",
                                    line={"width": 0}, showlegend=False, hoverinfo="skip"))
        figure.add_trace(go.Scatter(x=[p["at"] for p in banded],
                                    y=[p["expected"][0] for p in banded], mode="lines",
                                    line={"width": 0}, fill="tonexty", name="expected",
                                    fillcolor="rgba(0, 114, 178, 0.15)"))
    figure.add_trace(go.Scatter(x=at, y=[p["value"] for p in points], mode="lines+markers",
                                name="observed", line={"color": PRIMARY}))
    odd = [p for p in points if p.get("anomalous")]
    figure.add_trace(go.Scatter(x=[p["at"] for p in odd], y=[p["value"] for p in odd],
                                mode="markers", name="anomalous",
                                marker={"color": ANOMALY, "size": 11, "symbol": "x"}))
    figure.update_layout(template=TEMPLATE_NAME, title=title[:200], height=360)
    return figure
