"""Run a question set through the analyst and score it against the gold SQL.

For each question: the gold SQL runs through the guardrails (actor ``eval:gold``); the
analyst answers in a fresh session under the question's app scope (actor ``eval``, every
attempt audited with ``source="chat"``); the two results are compared with
`workspace.evals.scoring.compare`. The report counts execution accuracy, guardrail
rejections, engine errors, attempts and latency, overall and by difficulty.

`mode` picks who plans: the model (``model``), the rule planner alone (``rules``: its plan
runs even when it is not sure, and counts as a guess), or both (``both``: the rule planner
when it is sure, else the model). With rules, the report also counts sure answers, the
confident wrong ones, guesses, declines and the rule planner's own time per question.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from guardrails import Policy, Rejected
from guardrails.execute import AuditSink, RateLimiter, execute
from warehouse.engines import Engine, EngineError
from workspace.analyst import (
    AnalystError,
    AnswerFailed,
    DataContext,
    Plan,
    Planner,
    Session,
    ask,
)
from workspace.analyst.context import describe
from workspace.analyst.planner import Message
from workspace.analyst.rules import RulePlanner
from workspace.evals.questions import EvalError, Question, QuestionSet
from workspace.evals.scoring import compare

FATAL_LLM_CODES = frozenset({"llm_auth", "no_llm_provider", "llm_client_missing"})
Mode = Literal["model", "rules", "both"]
MODES: tuple[Mode, ...] = ("model", "rules", "both")


@dataclass
class QuestionResult:
    id: str
    question: str
    difficulty: str
    app: str | None
    correct: bool
    reason: str
    attempts: int = 0
    rejections: int = 0
    engine_errors: int = 0
    latency_s: float = 0.0
    sql: str | None = None
    gold_rows: int | None = None
    rows: int | None = None
    error: dict[str, Any] | None = None
    audit_ids: list[int] = field(default_factory=list)
    #: who planned the answer ("rules" or "model"), with rules: how sure, and its own time
    by: str | None = None
    confidence: float | None = None
    sure: bool | None = None
    planner_ms: float | None = None


@dataclass
class Report:
    name: str
    planner: str
    started_at: str
    summary: dict[str, Any]
    results: list[QuestionResult]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_eval(questions: QuestionSet, *, engine: Engine, planner: Planner | None = None,
             policy: Policy, audit: AuditSink | None = None, max_attempts: int = 3,
             only: set[str] | None = None, mode: Mode = "model",
             on_result: Callable[[QuestionResult], None] | None = None) -> Report:
    """Answer and score every question (or those in `only`); `planner` (a model) is needed
    unless `mode` is ``rules``."""
    if mode not in MODES:
        raise EvalError(f"unknown planner mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    if mode != "rules" and planner is None:
        raise EvalError(f"mode {mode} needs a model", hint="configure one, or use mode rules")
    started = datetime.now(UTC).isoformat(timespec="seconds")
    limiter = RateLimiter()
    contexts: dict[str | None, DataContext] = {}
    rules: dict[str | None, RulePlanner] = {}
    results: list[QuestionResult] = []
    for q in questions.questions:
        if only is not None and q.id not in only:
            continue
        scoped = Policy.model_validate({**policy.model_dump(), "tenant_app_id": q.app})
        if q.app not in contexts:
            contexts[q.app] = describe(engine, scoped, actor="eval", today=questions.today,
                                       audit=audit)
            rules[q.app] = RulePlanner(contexts[q.app])
        result = _one(q, questions, engine=engine, planner=planner, policy=scoped,
                      audit=audit, max_attempts=max_attempts, context=contexts[q.app],
                      limiter=limiter, rules=rules[q.app] if mode != "model" else None,
                      mode=mode)
        results.append(result)
        if on_result is not None:
            on_result(result)
        if result.error and result.error.get("code") in FATAL_LLM_CODES:
            break
    name = "rules" if planner is None or mode == "rules" else planner.name
    if mode == "both":
        name = f"rules+{name}"
    return Report(questions.name, name, started, summarize(results), results)


class _Given:
    """A `Planner` that returns a plan decided beforehand (the rule planner's)."""

    name = "rules"

    def __init__(self, plan: Plan):
        self.given = plan

    def plan(self, system: str, messages: list[Message]) -> Plan:
        return self.given


def _one(q: Question, questions: QuestionSet, *, engine: Engine, planner: Planner | None,
         policy: Policy, audit: AuditSink | None, max_attempts: int, context: DataContext,
         limiter: RateLimiter, rules: RulePlanner | None = None,
         mode: Mode = "model") -> QuestionResult:
    base: dict[str, Any] = {"id": q.id, "question": q.question, "difficulty": q.difficulty,
                            "app": q.app}
    try:
        gold = execute(q.gold_sql, engine=engine, policy=policy, actor="eval:gold",
                       source="sql", audit=audit, question=q.question, limiter=limiter)
    except (Rejected, EngineError) as err:
        return QuestionResult(**base, correct=False, reason="the gold SQL does not run",
                              error=err.to_dict())
    chosen = planner
    if rules is not None:
        begun = time.perf_counter()
        said = rules.answer(q.question, questions.today)
        base.update(confidence=said.confidence, sure=said.sure,
                    planner_ms=round((time.perf_counter() - begun) * 1000, 3))
        if said.plan is not None and (mode == "rules" or said.sure):
            chosen, max_attempts = _Given(said.plan), 1
        elif mode == "rules":
            return QuestionResult(**base, correct=False, by="rules",
                                  reason=f"declined: {said.understood[:300]}",
                                  gold_rows=gold.table.num_rows)
    assert chosen is not None
    base["by"] = "rules" if isinstance(chosen, _Given) else "model"
    session = Session(app_id=q.app, actor="eval")
    started = time.perf_counter()
    try:
        answer = ask(q.question, session, engine, policy, planner=chosen, audit=audit,
                     max_attempts=max_attempts, today=questions.today, context=context,
                     limiter=limiter)
    except AnalystError as err:
        latency = time.perf_counter() - started
        errors = [a.get("error") or {} for a in err.facts.get("attempts", [])] if isinstance(
            err, AnswerFailed) else []
        turn = session.turns[-1] if session.turns else None
        return QuestionResult(
            **base, correct=False, reason=f"no answer: {err.code}", attempts=len(errors),
            rejections=_count(errors, "guardrails"), engine_errors=_count(errors, "engine"),
            latency_s=round(latency, 3), gold_rows=gold.table.num_rows, error=err.to_dict(),
            audit_ids=list(turn.audit_ids) if turn else [])
    latency = time.perf_counter() - started
    match = compare(gold.table, answer.table)
    errors = [a.error for a in answer.attempts if a.error is not None]
    return QuestionResult(
        **base, correct=match.ok, reason=match.reason, attempts=len(answer.attempts),
        rejections=_count(errors, "guardrails"), engine_errors=_count(errors, "engine"),
        latency_s=round(latency, 3), sql=answer.sql, gold_rows=gold.table.num_rows,
        rows=answer.table.num_rows, audit_ids=answer.audit_ids)


def _count(errors: list[dict[str, Any]], stage: str) -> int:
    return sum(e.get("stage") == stage for e in errors)


def summarize(results: list[QuestionResult]) -> dict[str, Any]:
    def block(rows: list[QuestionResult]) -> dict[str, Any]:
        n = len(rows)
        correct = sum(r.correct for r in rows)
        return {"questions": n, "correct": correct,
                "execution_accuracy": round(correct / n, 4) if n else 0.0}

    latencies = sorted(r.latency_s for r in results if r.latency_s)
    answered = [r for r in results if r.sql is not None]
    summary = block(results)
    summary.update({
        "answered": len(answered),
        "no_answer": len(results) - len(answered),
        "rejections": sum(r.rejections for r in results),
        "questions_with_rejections": sum(r.rejections > 0 for r in results),
        "engine_errors": sum(r.engine_errors for r in results),
        "mean_attempts": round(statistics.fmean([r.attempts for r in results]), 3)
        if results else 0.0,
        "latency_s": {
            "mean": round(statistics.fmean(latencies), 3) if latencies else None,
            "p50": _quantile(latencies, 0.5),
            "p95": _quantile(latencies, 0.95),
            "max": latencies[-1] if latencies else None,
        },
        "by_difficulty": {d: block([r for r in results if r.difficulty == d])
                          for d in ("easy", "medium", "hard")
                          if any(r.difficulty == d for r in results)},
    })
    if any(r.planner_ms is not None for r in results):
        summary["rules"] = rules_summary(results)
    return summary


def rules_summary(results: list[QuestionResult]) -> dict[str, Any]:
    """How the rule planner did: sure answers (and the confident wrong ones among them),
    guesses, declines, and its own time per question in milliseconds."""
    planned = [r for r in results if r.planner_ms is not None]
    sure = [r for r in planned if r.sure]
    ran = [r for r in planned if r.by == "rules" and not r.reason.startswith("declined")]
    guesses = [r for r in ran if not r.sure]
    times = sorted(r.planner_ms for r in planned if r.planner_ms is not None)
    return {
        "questions": len(planned),
        "sure": len(sure),
        "sure_correct": sum(r.correct for r in sure),
        "confident_wrong": sum(not r.correct for r in sure),
        "guesses": len(guesses),
        "guesses_correct": sum(r.correct for r in guesses),
        "declined": sum(r.reason.startswith("declined") for r in planned),
        "answered_by_rules": sum(r.by == "rules" for r in planned),
        "answered_by_model": sum(r.by == "model" for r in planned),
        "planner_ms": {"p50": _quantile(times, 0.5), "p99": _quantile(times, 0.99),
                       "max": times[-1] if times else None},
    }


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]
