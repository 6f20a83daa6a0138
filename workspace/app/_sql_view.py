"""The SQL page's parts: the catalog panel, the estimate, and following a running query."""

from __future__ import annotations

from typing import Any

import streamlit as st

from causality.errors import CausalityError
from guardrails import CheckedQuery
from metadata.users import User
from warehouse.engines import Engine, Estimate
from workspace.app._look import code, plain
from workspace.app._pin import Pinnable, pin_control
from workspace.app._results import describe_estimate, from_execution, show_error, show_result
from workspace.app._sql_run import QueryJob, estimate, own_engine
from workspace.service import Workspace

ENGINE_KEY = "sql.engine"
JOB_KEY = "sql.job"
RESULT_KEY = "sql.result"
ESTIMATE_KEY = "sql.estimate"
POLL_S = 0.25


def session_engine(ws: Workspace) -> Engine:
    """This browser session's own engine (see `_sql_run.own_engine`), made once and closed
    when the workspace's engine changes."""
    shared = ws.engine
    held: tuple[int, Engine] | None = st.session_state.get(ENGINE_KEY)
    if held is not None and held[0] == id(shared):
        return held[1]
    if held is not None and held[1] is not shared:
        held[1].close()
    engine = own_engine(ws)
    st.session_state[ENGINE_KEY] = (id(shared), engine)
    return engine


def catalog_panel(ws: Workspace, user: User, scope: str | None) -> None:
    with st.expander("Tables and columns", icon=":material/table:"):
        try:
            tables = ws.engine.catalog(samples=False).tables
            events = ws.context(scope, user.username).event_types
        except CausalityError as err:
            show_error(err)
            return
        for table, columns in tables.items():
            st.markdown(f"**{plain(table)}**")
            st.markdown("\n".join(f"- {code(name)} {plain(kind)}"
                                  for name, kind in columns.items()))
        if events:
            st.caption("event_type values: " + plain(", ".join(events), limit=2000))
        st.caption("JSON columns: read a key with json_extract_scalar(properties, '$.key').")


def run_estimate(ws: Workspace, engine: Engine, sql: str, scope: str | None,
                 user: User) -> None:
    stored: dict[str, Any] = {"sql": sql, "scope": scope}
    try:
        stored["checked"], stored["estimate"] = estimate(ws, engine, sql, scope, user)
    except CausalityError as err:
        stored["error"] = err.to_dict()
    st.session_state[ESTIMATE_KEY] = stored


def estimate_panel(sql: str, scope: str | None, max_rows: int) -> None:
    """The last estimate, while the editor still holds the SQL it was made for."""
    stored = st.session_state.get(ESTIMATE_KEY)
    if not stored or stored["sql"] != sql or stored["scope"] != scope:
        return
    with st.container(border=True):
        st.markdown("**Before running**")
        if "error" in stored:
            st.markdown("The guardrails refuse this query:")
            show_error(stored["error"])
            return
        checked: CheckedQuery = stored["checked"]
        est: Estimate = stored["estimate"]
        st.success("The guardrails accept this query.", icon=":material/verified_user:")
        st.markdown(f"Estimated cost: **{describe_estimate(est)}**")
        for change in checked.changes:
            st.caption(_change_text(change, scope, max_rows))
        for warning in checked.warnings:
            st.caption(f"Warning: {plain(warning, limit=500)}")
        st.caption("This is the SQL that will run:")
        st.code(checked.sql, language="sql")


def _change_text(change: str, scope: str | None, max_rows: int) -> str:
    return {
        "tenant_filter": f"A tenant filter was added: only app {scope!r} is read.",
        "limit_injected": f"A LIMIT {max_rows:,} was added.",
        "limit_clamped": f"The LIMIT was lowered to {max_rows:,}.",
    }.get(change, change)


def follow(job: QueryJob) -> None:
    """Poll the running query with a Cancel button; store the outcome and rerun when done.

    A click on Cancel (or on any widget) stops this script run at its next update and
    starts a new one, which finds the job in the session state and keeps following it.
    """
    slot = st.empty()
    with slot.container():
        status = st.empty()
        if st.button("Cancel", key="sql.cancel", icon=":material/stop_circle:"):
            status.info("Cancelling…")
            if not job.cancel():
                status.warning("The query is still stopping; it will end on its own.")
    while not job.wait(POLL_S):
        status.info(f"Running… {job.elapsed_s:.1f} s", icon=":material/hourglass_top:")
    slot.empty()
    st.session_state[RESULT_KEY] = (job.outcome(), job.scope, job.sql)
    del st.session_state[JOB_KEY]
    st.rerun()


def result_panel(ws: Workspace, user: User) -> None:
    stored = st.session_state.get(RESULT_KEY)
    if stored is None:
        return
    outcome, scope, written = stored
    if isinstance(outcome, CausalityError):
        if outcome.code == "query_cancelled":
            st.info("The query was cancelled.", icon=":material/stop_circle:")
        else:
            show_error(outcome)
        return
    shown = from_execution(outcome, question="SQL query", insight=None, scope=scope, ws=ws,
                           actor=user.username, written=written)
    run = outcome.result
    st.caption(f"Ran in {run.duration_ms / 1000:.2f} s on {run.engine} · "
               f"estimate was {describe_estimate(outcome.estimate)}")
    show_result(shown, key="sql.result")
    with st.expander("The SQL that ran"):
        st.code(shown.sql, language="sql")
    pin_control(ws, user, Pinnable(sql=shown.sql, chart=shown.chart, question=shown.question,
                                   insight=None, scope=scope), key="sql.pin")
