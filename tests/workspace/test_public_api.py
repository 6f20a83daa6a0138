"""The public names of the analyst's packages, pinned (STYLE.md rule 7)."""

from __future__ import annotations

import metadata
import workspace.analyst
import workspace.evals
import workspace.insights


def test_insights_api() -> None:
    assert set(workspace.insights.__all__) == {
        "COLUMNS", "INSIGHT_KINDS", "Breakdown", "DateRange", "Filter", "Funnel", "FunnelStep",
        "Insight", "InsightError", "Retention", "Stickiness", "TopEvents", "Trend",
        "compile_insight"}


def test_analyst_api() -> None:
    assert set(workspace.analyst.__all__) == {
        "AnalystError", "AnalystUnavailable", "Answer", "AnswerFailed", "Attempt", "ChatStore",
        "ChatSummary", "DataContext", "InstructorPlanner", "LLMError", "Plan", "Planner",
        "Session", "SqlQuery", "Turn", "ask", "describe", "planner_from_settings"}


def test_evals_api() -> None:
    assert set(workspace.evals.__all__) == {
        "DEMO_QUESTIONS", "DemoSpec", "EvalError", "Match", "Question", "QuestionResult",
        "QuestionSet", "Report", "compare", "load_questions", "run_eval", "summarize"}


def test_metadata_exports_verified_queries() -> None:
    assert {"VerifiedQueries", "VerifiedQuery", "UnknownVerifiedQuery"} <= set(
        metadata.__all__)


def test_errors_share_the_root_and_codes() -> None:
    from causality.errors import CausalityError

    for error in (workspace.analyst.AnalystError, workspace.insights.InsightError,
                  workspace.evals.EvalError):
        assert issubclass(error, CausalityError)
    assert workspace.analyst.AnalystUnavailable.code == "no_llm_provider"
