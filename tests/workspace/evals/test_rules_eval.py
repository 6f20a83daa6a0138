"""The rule planner on the shipped question set: at least 70 % exact and no confident wrong
answer; the harness in ``rules`` and ``both`` modes; ``causality eval --planner rules``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from click.testing import CliRunner

from guardrails import Policy, check
from tests.workspace.scripted_model import ScriptedModel, anthropic_planner
from warehouse.demo import generate, write
from warehouse.engines.duckdb_engine import DuckDBEngine
from warehouse.schema import TRINO_TYPES
from workspace.analyst import SqlQuery
from workspace.analyst.context import DataContext, describe
from workspace.analyst.rules import RulePlanner
from workspace.evals import (
    DEMO_QUESTIONS,
    EvalError,
    QuestionSet,
    compare,
    load_questions,
    run_eval,
)
from workspace.insights import compile_insight

MIN_EXACT = 0.70


@pytest.fixture(scope="module")
def demo_set() -> QuestionSet:
    return load_questions(DEMO_QUESTIONS)


@pytest.fixture(scope="module")
def demo_table(demo_set: QuestionSet) -> pa.Table:
    return generate(demo_set.demo.events, seed=demo_set.demo.seed, end=demo_set.demo.end)


@pytest.fixture(scope="module")
def demo_engine(demo_table: pa.Table, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[DuckDBEngine]:
    root = tmp_path_factory.mktemp("demo")
    write(demo_table, root)
    engine = DuckDBEngine(root, memory_limit="1GB")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def demo_duckdb(demo_table: pa.Table) -> duckdb.DuckDBPyConnection:
    view = demo_table
    for name in ("event_time", "received_at"):
        i = view.schema.get_field_index(name)
        view = view.set_column(i, name, view[name].cast(pa.timestamp("us")))
    con = duckdb.connect()
    con.register("events", view)
    return con


def test_the_set_has_everyday_phrasings_of_every_kind(demo_set: QuestionSet) -> None:
    everyday = [q for q in demo_set.questions if "everyday" in q.tags]
    assert len(everyday) >= 60
    for kind in ("trend", "funnel", "retention", "stickiness", "top_events", "count",
                 "breakdown", "filter", "dates", "users", "revenue"):
        assert sum(kind in q.tags for q in everyday) >= 3, kind


def test_rules_alone_on_the_shipped_set(demo_set: QuestionSet, demo_engine: DuckDBEngine,
                                        demo_duckdb: duckdb.DuckDBPyConnection) -> None:
    """Each plan's SQL through the guardrails on the demo data, scored like the harness."""
    contexts: dict[str | None, DataContext] = {}
    exact, confident_wrong, sure = [], [], []
    for q in demo_set.questions:
        policy = Policy(tenant_app_id=q.app, queries_per_minute=None)
        if q.app not in contexts:
            contexts[q.app] = describe(demo_engine, policy, actor="test", today=demo_set.today)
        answer = RulePlanner(contexts[q.app]).answer(q.question, demo_set.today)
        if answer.plan is None:
            continue
        query = answer.plan.query
        sql = query.sql if isinstance(query, SqlQuery) else compile_insight(
            query, demo_set.today)

        def table_of(text: str, policy: Policy = policy) -> pa.Table:
            return demo_duckdb.sql(check(text, {"events": TRINO_TYPES},
                                         policy).duckdb_sql).to_arrow_table()

        ok = compare(table_of(q.gold_sql), table_of(sql)).ok
        exact += [q.id] if ok else []
        sure += [q.id] if answer.sure else []
        confident_wrong += [q.id] if answer.sure and not ok else []
    n = len(demo_set.questions)
    assert confident_wrong == []
    assert len(exact) >= MIN_EXACT * n, f"{len(exact)}/{n} exact"
    assert len(sure) >= MIN_EXACT * n, f"{len(sure)}/{n} sure (and so right)"


def test_harness_in_rules_mode(demo_set: QuestionSet, demo_engine: DuckDBEngine) -> None:
    only = {"e01", "e30", "e54", "e61", "q23"}
    report = run_eval(demo_set, engine=demo_engine, policy=Policy(queries_per_minute=None),
                      mode="rules", only=only)
    by_id = {r.id: r for r in report.results}
    assert all(by_id[i].correct and by_id[i].sure and by_id[i].by == "rules"
               for i in ("e01", "e30", "e54", "e61"))
    assert not by_id["q23"].sure  # a share: a guess, run and scored
    rules = report.summary["rules"]
    assert (rules["sure"], rules["confident_wrong"], rules["answered_by_model"]) == (4, 0, 0)
    assert rules["planner_ms"]["p99"] is not None
    assert report.planner == "rules"


def test_both_mode_leaves_what_rules_cannot_answer_to_the_model(
        engine: DuckDBEngine, unscoped: Policy) -> None:
    questions = QuestionSet.model_validate({
        "name": "mini", "today": "2026-10-26",
        "demo": {"events": 1, "seed": 1, "end": "2026-10-26"},
        "questions": [
            {"id": "model", "difficulty": "easy", "question": "Tally the kinds of things "
             "folks did, 2026-10-05 through 2026-10-07, grouped by what they were.",
             "gold_sql": "SELECT event_type, count(*) AS events FROM events "
                         "WHERE dt BETWEEN '2026-10-05' AND '2026-10-07' GROUP BY event_type"},
            {"id": "rules", "difficulty": "easy",
             "question": "Unique users per day from 2026-10-05 to 2026-10-07",
             "gold_sql": "SELECT dt, count(DISTINCT user_id) AS users FROM events "
                         "WHERE dt BETWEEN '2026-10-05' AND '2026-10-07' GROUP BY dt"},
        ]})
    model = ScriptedModel("eval_answers")
    report = run_eval(questions, engine=engine, planner=anthropic_planner(model),
                      policy=unscoped, mode="both")
    first, second = report.results
    assert (first.by, first.sure, first.correct) == ("model", False, True)
    assert (second.by, second.sure, second.correct) == ("rules", True, True)
    assert len(model.requests) == 1  # the model was asked once, for the first question
    assert report.planner == "rules+anthropic:claude-sonnet-5"
    assert report.summary["rules"]["answered_by_model"] == 1


def test_modes_are_checked(demo_set: QuestionSet, engine: DuckDBEngine) -> None:
    with pytest.raises(EvalError, match="needs a model"):
        run_eval(demo_set, engine=engine, policy=Policy(), mode="both")


def test_cli_eval_with_the_rule_planner_needs_no_model(
        demo_engine: DuckDBEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from causality.cli import main

    monkeypatch.setenv("CAUSALITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CAUSALITY_LLM_PROVIDER", "none")
    result = CliRunner().invoke(main, [
        "eval", "--questions", str(DEMO_QUESTIONS), "--planner", "rules", "--only", "e01,e55",
        "--warehouse", demo_engine.warehouse])
    assert result.exit_code == 0, result.output
    assert "2/2 correct" in result.output
    assert "0 confident wrong" in result.output and "p99" in result.output
