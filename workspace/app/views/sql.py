"""SQL: write Trino SQL, see the guardrails' verdict and the cost estimate before running,
run it (cancellable), download the result as CSV or Parquet."""

from __future__ import annotations

import streamlit as st

from workspace.app._context import page_context
from workspace.app._look import plain
from workspace.app._scope import pick_scope
from workspace.app._sql_run import QueryJob, run_guarded
from workspace.app._sql_view import (
    JOB_KEY,
    RESULT_KEY,
    catalog_panel,
    estimate_panel,
    follow,
    result_panel,
    run_estimate,
    session_engine,
)

DEFAULT_SQL = """SELECT event_type, count(*) AS events, count(DISTINCT user_id) AS users
FROM events
GROUP BY event_type
ORDER BY events DESC"""

ctx = page_context("analyst")
ws, user = ctx.ws, ctx.user
job: QueryJob | None = st.session_state.get(JOB_KEY)

st.title("SQL")
st.caption("Trino SQL over the `events` table. Every query passes the guardrails (read-only, "
           "known tables and columns, your app scope, a row cap) and is audited under "
           f"your name, {plain(user.username)}.")
scope = pick_scope(ws, user, key="sql.scope", disabled=job is not None)
catalog_panel(ws, user, scope)
sql = st.text_area("SQL (Trino dialect)", value=DEFAULT_SQL, key="sql.text", height=200)
left, right, _ = st.columns([1, 1, 4])
with left:
    estimate_clicked = st.button("Estimate", key="sql.estimate_btn", disabled=job is not None,
                                 icon=":material/calculate:", width="stretch")
with right:
    run_clicked = st.button("Run", key="sql.run_btn", type="primary", disabled=job is not None,
                            icon=":material/play_arrow:", width="stretch")
engine = session_engine(ws)

if estimate_clicked and sql.strip():
    run_estimate(ws, engine, sql, scope, user)
estimate_panel(sql, scope, ws.settings.query.max_rows)

if run_clicked and job is None and sql.strip():
    st.session_state.pop(RESULT_KEY, None)
    st.session_state[JOB_KEY] = QueryJob.start(
        sql, engine, lambda: run_guarded(ws, engine, sql, user=user, scope=scope,
                                         question="SQL page"), scope=scope)
    st.rerun()
if job is not None:
    follow(job)
result_panel(ws, user)
