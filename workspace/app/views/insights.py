"""Insights: every insight kind from a form; no model needed. Our code compiles the insight's
SQL, the guardrails check it, the chart is picked for the result."""

from __future__ import annotations

import streamlit as st

from causality.errors import CausalityError
from workspace.app._context import page_context
from workspace.app._insight_form import date_range, insight_fields, options_for, run_insight
from workspace.app._look import plain
from workspace.app._pin import Pinnable, pin_control
from workspace.app._results import Shown, show_error, show_result
from workspace.app._scope import pick_scope
from workspace.insights import KINDS

RESULT_KEY = "ins.result"


ctx = page_context("analyst")
ws, user = ctx.ws, ctx.user

st.title("Insights")
st.caption("Trends, funnels, retention and more from a form. Each runs through the "
           "guardrails under your name, within your app scope.")
scope = pick_scope(ws, user, key="ins.scope")
try:
    opts = options_for(ws, user, scope)
except CausalityError as err:
    show_error(err)
    st.stop()
if not opts.event_types:
    st.info("No events yet in this scope: send some through the SDK, or load the demo data "
            "(`make up`).", icon=":material/hourglass_empty:")

kind = st.radio("Insight", list(KINDS), key="ins.kind", horizontal=True,
                format_func=lambda name: KINDS[name].title, label_visibility="collapsed")
with st.container(border=True):
    values = insight_fields(kind, opts)
    dates = date_range(opts)
    clicked = st.button("Run insight", key="ins.run", type="primary",
                        icon=":material/play_arrow:")
if clicked and dates is not None:
    shown = run_insight(ws, user, scope, kind, {**values, "kind": kind, "date_range": dates})
    if shown is not None:
        st.session_state[RESULT_KEY] = shown

result: Shown | None = st.session_state.get(RESULT_KEY)
if result is not None:
    st.subheader(plain(result.question, limit=300))
    show_result(result, key="ins.result")
    with st.expander("SQL", icon=":material/code:"):
        st.code(result.sql, language="sql")
    pin_control(ws, user, Pinnable(sql=result.sql, chart=result.chart, question=result.question,
                                   insight=result.insight, scope=result.scope), key="ins.pin")
