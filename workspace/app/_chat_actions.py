"""What can be done with an answer: pin it, export it as a marimo notebook, and (admins)
mark it as a verified query the model gets as an example for similar questions."""

from __future__ import annotations

from typing import Any

import streamlit as st

from causality.errors import CausalityError
from metadata.users import User
from workspace.analyst import Session, SqlQuery, Turn
from workspace.app._look import plain
from workspace.app._pin import Pinnable, pin_control
from workspace.app._results import Shown, show_error, slug
from workspace.insights import InsightError, compile_insight
from workspace.notebooks import NotebookQuery, notebook_source
from workspace.service import Workspace


def pinnable(session: Session, turn: Turn, shown: Shown | None) -> Pinnable:
    """The SQL that ran last for this turn and the chart it is drawn with."""
    assert turn.sql is not None
    if shown is not None:
        return Pinnable(sql=shown.sql, chart=shown.chart, question=turn.question,
                        insight=shown.insight, scope=session.app_id)
    plan = turn.plan
    kind = plan.query.kind if plan is not None else None
    return Pinnable(sql=turn.sql, chart=plan.chart if plan is not None else None,
                    question=turn.question, insight=None if kind == "sql" else kind,
                    scope=session.app_id)


def verified_payload(turn: Turn, shown: Shown | None) -> tuple[str, dict[str, Any] | None]:
    """(SQL, insight) to keep as a verified query: what a person edited and ran, else the
    model's own query before the guardrails rewrote it (an insight with its compiled SQL)."""
    plan = turn.plan
    model_sql = getattr(plan.query, "sql", None) if plan is not None else None
    if shown is not None and shown.source_sql and shown.source_sql != model_sql:
        return shown.source_sql, None
    if plan is not None and not isinstance(plan.query, SqlQuery):
        try:
            return compile_insight(plan.query), plan.query.model_dump(mode="json")
        except InsightError:
            pass
    assert turn.sql is not None
    return model_sql or turn.sql, None


def notebook_of(session: Session, item: Pinnable) -> str:
    query = NotebookQuery(title=item.question[:200], sql=item.sql, chart=item.chart,
                          insight=item.insight)
    return notebook_source(item.question[:200], [query], app_id=session.app_id)


def actions(ws: Workspace, user: User, session: Session, turn: Turn, shown: Shown | None,
            verified: set[tuple[str, str]], key: str) -> None:
    if not turn.ok or not turn.sql:
        return
    item = pinnable(session, turn, shown)
    pin_col, notebook_col, verify_col = st.columns(3)
    with pin_col:
        pin_control(ws, user, item, key=f"{key}.pin")
    with notebook_col:
        try:
            source = notebook_of(session, item)
        except CausalityError as err:
            st.caption(f"No notebook: {plain(err.message)}")
        else:
            st.download_button("Export as notebook", source,
                               file_name=f"{slug(turn.question)}.py", mime="text/x-python",
                               key=f"{key}.notebook", on_click="ignore",
                               icon=":material/description:",
                               help="A marimo notebook that re-runs this query through the "
                                    "guardrails and redraws the chart")
    if not user.can("admin"):
        return
    with verify_col:
        sql, insight = verified_payload(turn, shown)
        if (turn.question.strip(), sql.strip()) in verified:
            st.caption(":material/verified: A verified query")
        elif st.button("Mark as verified query", key=f"{key}.verify",
                       icon=":material/verified:",
                       help="The model gets it as an example for similar questions"):
            try:
                ws.require(user, "admin")
                ws.verified.add(turn.question, sql, verified_by=user.username,
                                insight=insight, app_id=session.app_id)
            except CausalityError as err:
                show_error(err)
            else:
                verified.add((turn.question.strip(), sql.strip()))
                st.success("Saved as a verified query.")


def verified_pairs(ws: Workspace, user: User, session: Session) -> set[tuple[str, str]]:
    """(question, SQL) of the verified queries this chat's scope sees (admins only)."""
    if not user.can("admin"):
        return set()
    return {(row.question, row.sql) for row in ws.verified.list(app_id=session.app_id)}
