"""`ask`: question → plan → SQL → guardrails → engine → answer, correcting itself.

Each attempt's SQL (compiled from the insight, or the model's own) goes through
`guardrails.execute` with ``source="chat"``, so it is checked and audited like any query; a
plan refused before it became a query is audited as rejected too. A
rejection or an engine error goes back to the model with its code and hint, up to
`max_attempts` times. The answer always carries the SQL that actually ran.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from charts import ChartSpec, auto_spec, problems
from guardrails import Policy, Rejected
from guardrails.execute import (
    DEFAULT_LIMITER,
    AuditRecord,
    AuditSink,
    Execution,
    RateLimiter,
    execute,
)
from metadata import VerifiedQueries, VerifiedQuery
from warehouse.engines import Engine, EngineError
from workspace.analyst.context import DataContext, describe, has_all_event_types
from workspace.analyst.errors import AnalystError, AnswerFailed
from workspace.analyst.fence import names as event_names
from workspace.analyst.plan import Plan, SqlQuery
from workspace.analyst.planner import Planner
from workspace.analyst.prompt import conversation, correction, system_prompt
from workspace.analyst.session import ChatStore, Session, Turn
from workspace.insights import Insight, InsightError, compile_insight

DEFAULT_ATTEMPTS = 3


@dataclass(frozen=True)
class Attempt:
    """One plan the model proposed and what became of it."""

    plan: Plan | None
    sql: str | None
    error: dict[str, Any] | None
    audit_id: int | None = None


@dataclass(frozen=True)
class Answer:
    question: str
    plan: Plan
    sql: str
    table: pa.Table
    chart: ChartSpec
    explanation: str
    assumptions: list[str]
    audit_ids: list[int]
    attempts: list[Attempt]
    flags: tuple[str, ...] = ()
    chat_id: str | None = None
    #: what the chart draws when it differs from `table`: a long time series in buckets
    chart_table: pa.Table | None = None

    @property
    def insight_kind(self) -> str:
        return self.plan.query.kind

    @property
    def chart_points(self) -> pa.Table:
        return self.table if self.chart_table is None else self.chart_table


@dataclass
class _Audit:
    """Keeps the ids of the audit rows written during one question."""

    inner: AuditSink | None
    ids: list[int] = field(default_factory=list)

    def record(self, entry: AuditRecord) -> int:
        if self.inner is None:
            return 0
        audit_id = self.inner.record(entry)
        self.ids.append(audit_id)
        return audit_id


def ask(question: str, session: Session, engine: Engine, policy: Policy, *,
        planner: Planner, audit: AuditSink | None = None,
        verified: VerifiedQueries | None = None, chats: ChatStore | None = None,
        max_attempts: int = DEFAULT_ATTEMPTS, examples: int = 3, today: date | None = None,
        context: DataContext | None = None, limiter: RateLimiter = DEFAULT_LIMITER) -> Answer:
    """Answer `question` in `session` under `policy` (which carries the tenant scope).

    Raises `AnswerFailed` when no attempt ran, `LLMError` when the model provider fails,
    `AnalystUnavailable` when no model is configured. The turn is appended to `session` (and
    saved to `chats` when given) either way.
    """
    if session.app_id != policy.tenant_app_id:
        raise AnalystError("the chat was started under another app scope",
                           code="chat_scope", hint="start a new chat for this app")
    question = question.strip()
    if not question:
        raise AnalystError("the question is empty", code="empty_question",
                           hint="ask something about your events")
    day = today or datetime.now(UTC).date()
    recorder = _Audit(audit)
    ctx = context or describe(engine, policy, actor=session.actor, today=day, audit=recorder)
    shown: list[VerifiedQuery] = []
    if verified is not None and examples:
        shown = [row for row, _ in verified.similar(question, app_id=policy.tenant_app_id,
                                                    k=examples)]
    system = system_prompt(ctx, policy, day, engine.name, shown)
    messages = conversation(session, question)
    runner = _Runner(question, session.actor, engine, policy, ctx, day, recorder, limiter)
    attempts: list[Attempt] = []
    plan: Plan | None = None
    try:
        for _ in range(max_attempts):
            plan = planner.plan(system, messages)
            run, attempt = runner.attempt(plan)
            attempts.append(attempt)
            if run is not None:
                answer = _answer(question, plan, run.checked.sql, run.table, run.flags,
                                 recorder.ids, attempts, session.chat_id)
                _remember(session, chats, Turn(question, plan, answer.sql, True, None,
                                               tuple(recorder.ids), len(attempts)))
                return answer
            assert attempt.error is not None
            messages = [*messages, *correction(plan, attempt.sql, attempt.error)]
    except AnalystError as err:
        _remember(session, chats, Turn(question, plan, None, False, err.to_dict(),
                                       tuple(recorder.ids), len(attempts)))
        raise
    last = attempts[-1].error or {}
    failed = AnswerFailed(
        f"no query could run after {len(attempts)} attempts; the last was refused: "
        f"{last.get('code')}: {last.get('message')}",
        hint=last.get("hint") or "rephrase the question, or write the SQL yourself",
        attempts=[{"sql": a.sql, "error": a.error, "audit_id": a.audit_id} for a in attempts],
        last_code=last.get("code"))
    _remember(session, chats, Turn(question, plan, None, False, failed.to_dict(),
                                   tuple(recorder.ids), len(attempts)))
    raise failed


@dataclass
class _Runner:
    """Turns one plan into SQL and runs it through the guardrails, auditing the attempt."""

    question: str
    actor: str
    engine: Engine
    policy: Policy
    ctx: DataContext
    today: date
    audit: _Audit
    limiter: RateLimiter

    def attempt(self, plan: Plan) -> tuple[Execution | None, Attempt]:
        sql, error = _sql_of(plan, self.today, self.ctx)
        if error is not None:
            # Refused before it became a query (an event that does not exist, an insight
            # that cannot compile): still one audited attempt.
            audit_id = self.audit.record(AuditRecord(
                actor=self.actor, source="chat", question=self.question, verdict="rejected",
                sql_in=sql or "(no SQL: the plan could not be compiled)",
                code=error.get("code"), message=error.get("message"), engine=self.engine.name))
            return None, Attempt(plan, sql, error, audit_id or None)
        assert sql is not None
        before = len(self.audit.ids)
        try:
            run = execute(sql, engine=self.engine, policy=self.policy, actor=self.actor,
                          source="chat", audit=self.audit, question=self.question,
                          catalog=self.ctx.catalog.tables, limiter=self.limiter)
        except Rejected as err:
            error = {**err.to_dict(), "stage": "guardrails"}
        except EngineError as err:
            error = {**err.to_dict(), "stage": "engine"}
        else:
            return run, Attempt(plan, sql, None, run.audit_id)
        written = self.audit.ids[before:]
        return None, Attempt(plan, sql, error, written[-1] if written else None)


def _sql_of(plan: Plan, today: date, ctx: DataContext) -> tuple[str | None, dict[str, Any] | None]:
    """The SQL to run for `plan`, or the problem to report back to the model."""
    query = plan.query
    if isinstance(query, SqlQuery):
        return query.sql, None
    unknown = _unknown_event(query, ctx)
    try:
        sql = compile_insight(query, today)
    except InsightError as err:
        return None, {**err.to_dict(), "stage": "plan"}
    if unknown is not None:
        return sql, unknown
    return sql, None


def _unknown_event(query: Insight, ctx: DataContext) -> dict[str, Any] | None:
    """An event name that is not among the catalog's event types, when that list is whole."""
    known = ctx.event_types
    if not has_all_event_types(ctx):
        return None
    shown, _ = event_names(known)  # the ones the prompt shows, not a planted 10k name
    for name in query.event_names():
        if name is not None and name not in known:
            close = difflib.get_close_matches(name, shown, n=1)
            return {"code": "unknown_event", "stage": "plan",
                    "message": f"there is no event type {name!r}",
                    "hint": f"did you mean {close[0]}?" if close
                    else f"event types: {', '.join(shown)}"}
    return None


def _answer(question: str, plan: Plan, sql: str, table: pa.Table, flags: tuple[str, ...],
            audit_ids: list[int], attempts: list[Attempt], chat_id: str) -> Answer:
    kind = plan.query.kind
    chart = plan.chart
    if chart is None or problems(chart, table):
        title = chart.title if chart is not None else ""
        chart = auto_spec(table, None if kind == "sql" else kind, title=title)
    return Answer(question=question, plan=plan, sql=sql, table=table, chart=chart,
                  explanation=plan.explanation, assumptions=list(plan.assumptions),
                  audit_ids=list(audit_ids), attempts=list(attempts), flags=flags,
                  chat_id=chat_id)


def _remember(session: Session, chats: ChatStore | None, turn: Turn) -> None:
    session.turns.append(turn)
    if chats is not None:
        chats.save(session)
