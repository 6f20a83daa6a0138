"""The eval harness: scoring, a run with scripted right and wrong answers, and the shipped
question set (every gold query passes the guardrails and runs on DuckDB over demo data)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from guardrails import Policy, check
from guardrails.execute import RateLimiter, execute
from metadata.audit import AuditLog
from tests.workspace.scripted_model import ScriptedModel, anthropic_planner
from warehouse.demo import generate, write
from warehouse.engines.duckdb_engine import DuckDBEngine
from warehouse.schema import TRINO_TYPES
from workspace.evals import (
    DEMO_QUESTIONS,
    EvalError,
    QuestionSet,
    compare,
    load_questions,
    run_eval,
)
from workspace.insights import (
    Breakdown,
    DateRange,
    Funnel,
    FunnelStep,
    Retention,
    Stickiness,
    TopEvents,
    Trend,
    compile_insight,
)

# -- scoring -------------------------------------------------------------------------------

GOLD = pa.table({"day": [datetime(2026, 10, 5), datetime(2026, 10, 6)], "events": [7, 8]})


@pytest.mark.parametrize("answer", [
    pa.table({"n": [8, 7], "d": ["2026-10-06", "2026-10-05"]}),          # renamed, reordered
    pa.table({"d": [datetime(2026, 10, 6), datetime(2026, 10, 5)], "n": [8.0, 7.0]}),
    pa.table({"d": ["2026-10-05", "2026-10-06"], "n": [7.00001, 8.0],
              "share": [0.46, 0.54]}),                                     # tolerance, extra
    pa.table({"d": [datetime(2026, 10, 5), datetime(2026, 10, 6)],
              "n": pa.array([Decimal(7), Decimal(8)], pa.decimal128(10, 0))}),
])
def test_right_answers_match(answer: pa.Table) -> None:
    assert compare(GOLD, answer).ok


@pytest.mark.parametrize(("answer", "reason"), [
    (pa.table({"d": ["2026-10-05"], "n": [7]}), "row count differs"),
    (pa.table({"d": ["2026-10-05", "2026-10-06"], "n": [7, 9]}), "no answer column"),
    (pa.table({"d": ["2026-10-05", "2026-10-06"], "n": [8, 7]}), "rows differ"),
    (pa.table({"n": [7, 8]}), "columns"),
    (pa.table({"d": ["2026-10-05", "2026-10-06"], "n": [7.01, 8.0]}), "no answer column"),
])
def test_wrong_answers_do_not(answer: pa.Table, reason: str) -> None:
    match = compare(GOLD, answer)
    assert not match.ok and reason in match.reason


def test_multisets_and_empty_results() -> None:
    dup = pa.table({"a": ["x", "x", "y"]})
    assert compare(dup, pa.table({"b": ["x", "y", "x"]})).ok
    assert not compare(dup, pa.table({"b": ["x", "y", "y"]})).ok
    empty = pa.table({"a": pa.array([], pa.int64())})
    assert compare(empty, pa.table({"z": pa.array([], pa.string())})).ok
    assert not compare(GOLD, pa.table({"a": ["x", "y"], "b": [7, 8], "c": [1, 2]}),
                       allow_extra_columns=False).ok


# -- the harness with scripted answers -----------------------------------------------------

MINI_SET = {
    "name": "mini",
    "today": "2026-10-26",
    "demo": {"events": 1, "seed": 1, "end": "2026-10-26"},
    "questions": [
        {"id": "types", "difficulty": "easy", "app": "shop",
         "question": "Events per type from 2026-10-05 to 2026-10-07?",
         "gold_sql": "SELECT event_type, count(*) AS events FROM events "
                     "WHERE dt BETWEEN '2026-10-05' AND '2026-10-07' GROUP BY event_type"},
        {"id": "users", "difficulty": "medium", "app": "shop",
         "question": "Unique users per day from 2026-10-05 to 2026-10-07?",
         "gold_sql": "SELECT dt, count(DISTINCT user_id) AS users FROM events "
                     "WHERE dt BETWEEN '2026-10-05' AND '2026-10-07' GROUP BY dt"},
    ],
}


def test_harness_scores_scripted_right_and_wrong_answers(
        engine: DuckDBEngine, unscoped: Policy, audit: AuditLog) -> None:
    questions = QuestionSet.model_validate(MINI_SET)
    seen: list[str] = []
    report = run_eval(questions, engine=engine, planner=anthropic_planner(
        ScriptedModel("eval_answers")), policy=unscoped, audit=audit,
        on_result=lambda r: seen.append(r.id))
    assert seen == ["types", "users"]
    right, wrong = report.results
    assert (right.correct, right.reason, right.attempts, right.rows) == (True, "same rows", 1, 4)
    assert not wrong.correct and "no answer column" in wrong.reason  # counted events, not users
    summary = report.summary
    assert (summary["questions"], summary["correct"], summary["execution_accuracy"]) == (
        2, 1, 0.5)
    assert summary["rejections"] == 0 and summary["mean_attempts"] == 1.0
    assert summary["by_difficulty"]["easy"]["correct"] == 1
    assert summary["latency_s"]["max"] is not None
    assert report.planner == "anthropic:claude-sonnet-5"
    json.dumps(report.to_dict(), default=str)
    # gold and model runs are both audited
    sources = {(r["actor"], r["source"]) for r in audit.tail(50)}
    assert ("eval:gold", "sql") in sources and ("eval", "chat") in sources


def test_harness_counts_rejections_and_failures(
        engine: DuckDBEngine, unscoped: Policy) -> None:
    questions = QuestionSet.model_validate({**MINI_SET, "questions": MINI_SET["questions"][:1]})
    report = run_eval(questions, engine=engine, planner=anthropic_planner(
        ScriptedModel("prompt_injection_destructive")), policy=unscoped)
    [result] = report.results
    assert not result.correct and result.reason == "no answer: answer_failed"
    assert (result.attempts, result.rejections) == (3, 3)
    assert report.summary["questions_with_rejections"] == 1
    assert report.summary["no_answer"] == 1


def test_question_files_are_validated(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x"}')
    with pytest.raises(EvalError, match="not a valid question set"):
        load_questions(bad)
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps({**MINI_SET, "questions": [MINI_SET["questions"][0]] * 2}))
    with pytest.raises(EvalError, match="repeats question ids types"):
        load_questions(twice)
    with pytest.raises(EvalError, match="cannot read"):
        load_questions(tmp_path / "missing.json")


# -- the shipped question set --------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_set() -> QuestionSet:
    return load_questions(DEMO_QUESTIONS)


@pytest.fixture(scope="module")
def demo_table(demo_set: QuestionSet) -> pa.Table:
    return generate(demo_set.demo.events, seed=demo_set.demo.seed, end=demo_set.demo.end)


def test_the_demo_set_is_big_and_varied(demo_set: QuestionSet) -> None:
    questions = demo_set.questions
    assert len(questions) >= 40
    levels = {q.difficulty for q in questions}
    assert levels == {"easy", "medium", "hard"}
    assert sum(q.app is not None for q in questions) >= 5
    tags = {t for q in questions for t in q.tags}
    assert {"trend", "funnel", "retention", "stickiness", "json", "tenant"} <= tags
    assert demo_set.today == date(2026, 11, 1)


@pytest.fixture(scope="module")
def demo_duckdb(demo_table: pa.Table) -> duckdb.DuckDBPyConnection:
    """The engine's view of the demo data: timestamps as UTC without a zone."""
    view = demo_table
    for name in ("event_time", "received_at"):
        i = view.schema.get_field_index(name)
        view = view.set_column(i, name, view[name].cast(pa.timestamp("us")))
    con = duckdb.connect()
    con.register("events", view)
    return con


def test_every_gold_query_passes_the_guardrails_and_runs_on_demo_data(
        demo_set: QuestionSet, demo_duckdb: duckdb.DuckDBPyConnection) -> None:
    con = demo_duckdb
    for q in demo_set.questions:
        checked = check(q.gold_sql, {"events": TRINO_TYPES},
                        Policy(tenant_app_id=q.app, queries_per_minute=None))
        rows = con.execute(checked.duckdb_sql).fetchall()
        assert rows, f"{q.id}: the gold query returns nothing"
        assert any(v is not None for row in rows for v in row), q.id


ALL_DATA = DateRange(start=date(2026, 9, 6), end=date(2026, 10, 31))
SIGNUP_FUNNEL = [FunnelStep(event=e) for e in ("signup", "activation", "purchase")]
AS_INSIGHTS: dict[str, Any] = {
    "q05": TopEvents(date_range=ALL_DATA, limit=20),
    "q13": Trend(date_range=DateRange(start=date(2026, 10, 19), end=date(2026, 10, 25))),
    "q14": Trend(date_range=ALL_DATA, measure="users", interval="week"),
    "q19": Trend(date_range=DateRange(start=date(2026, 10, 18), end=date(2026, 10, 31)),
                 event="purchase", measure="sum", property="revenue"),
    "q25": Trend(date_range=ALL_DATA, event="signup", interval="week"),
    "q32": Funnel(steps=SIGNUP_FUNNEL, window=30, date_range=ALL_DATA),
    "q33": Retention(start_event="signup", periods=4, date_range=ALL_DATA),
    "q38": Stickiness(date_range=DateRange(start=date(2026, 10, 1), end=date(2026, 10, 31))),
    "q46": Trend(date_range=ALL_DATA, event="purchase", measure="sum", property="revenue",
                 interval="week", breakdown=Breakdown(field="properties.plan", limit=3)),
}


@pytest.mark.parametrize("qid", sorted(AS_INSIGHTS))
def test_insights_agree_with_hand_written_gold_sql_on_demo_data(
        qid: str, demo_set: QuestionSet, demo_duckdb: duckdb.DuckDBPyConnection) -> None:
    q = next(q for q in demo_set.questions if q.id == qid)
    policy = Policy(tenant_app_id=q.app, queries_per_minute=None)

    def table_of(sql: str) -> pa.Table:
        duck_sql = check(sql, {"events": TRINO_TYPES}, policy).duckdb_sql
        return demo_duckdb.sql(duck_sql).to_arrow_table()

    gold = table_of(q.gold_sql)
    answer = table_of(compile_insight(AS_INSIGHTS[qid], demo_set.today))
    match = compare(gold, answer)
    assert match.ok, f"{qid}: {match.reason}"


@pytest.mark.slow
def test_gold_queries_through_execute_on_the_demo_warehouse(
        demo_set: QuestionSet, demo_table: pa.Table, tmp_path: Path) -> None:
    write(demo_table, tmp_path)
    engine = DuckDBEngine(tmp_path, memory_limit="1GB")
    by_id = {q.id: q for q in demo_set.questions}
    expected = {"q01": [(20000,)], "q21": [("2026-10-27", 20)], "q43": [("14", 192)],
                "q47": [(0,)]}
    try:
        for qid, rows in expected.items():
            q = by_id[qid]
            run = execute(q.gold_sql, engine=engine, source="sql", actor="test",
                          policy=Policy(tenant_app_id=q.app, queries_per_minute=None),
                          limiter=RateLimiter())
            assert [tuple(r.values()) for r in run.table.to_pylist()] == rows, qid
    finally:
        engine.close()
