"""The planner over the real anthropic/openai SDKs and real instructor, serving scripted
replies at the HTTP layer (tests/workspace/scripted)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from causality.settings import LLMSettings
from guardrails import Policy
from guardrails.execute import RateLimiter
from metadata.audit import AuditLog
from tests.workspace.scripted_model import ScriptedModel, anthropic_planner, openai_planner
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.analyst import (
    AnalystUnavailable,
    LLMError,
    Plan,
    Session,
    SqlQuery,
    ask,
    planner_from_settings,
)
from workspace.insights import TopEvents, Trend

TODAY = date(2026, 10, 26)


def test_no_provider_gives_a_clear_actionable_error() -> None:
    with pytest.raises(AnalystUnavailable) as caught:
        planner_from_settings(LLMSettings())
    err = caught.value
    assert err.code == "no_llm_provider"
    for setting in ("CAUSALITY_LLM_PROVIDER", "CAUSALITY_LLM_ANTHROPIC_API_KEY",
                    "CAUSALITY_LLM_OPENAI_BASE_URL"):
        assert setting in err.hint


def test_a_provider_without_its_key_or_endpoint_says_which_setting() -> None:
    with pytest.raises(AnalystUnavailable, match="API key") as caught:
        planner_from_settings(LLMSettings(provider="anthropic"))
    assert "CAUSALITY_LLM_ANTHROPIC_API_KEY" in caught.value.hint
    with pytest.raises(AnalystUnavailable) as caught:
        planner_from_settings(LLMSettings(provider="openai"))
    assert "CAUSALITY_LLM_OPENAI_BASE_URL" in caught.value.hint


def test_a_correct_plan_at_the_first_reply() -> None:
    scripted = ScriptedModel("trend_plan")
    plan = anthropic_planner(scripted).plan("system text", [{"role": "user", "content": "q?"}])
    assert isinstance(plan, Plan) and isinstance(plan.query, Trend)
    assert plan.query.date_range.start == date(2026, 10, 5)
    assert plan.chart is not None and plan.chart.kind == "line"
    request = scripted.requests[0]
    assert request["system"] == "system text"
    assert request["tool_choice"]["name"] == "Plan"
    assert request["tools"][0]["name"] == "Plan"
    assert request["model"] == "claude-sonnet-5"
    assert scripted.urls[0].endswith("/v1/messages")


def test_an_invalid_plan_is_re_asked_by_instructor_then_accepted() -> None:
    scripted = ScriptedModel("invalid_then_valid")
    plan = anthropic_planner(scripted, validation_retries=1).plan(
        "system", [{"role": "user", "content": "US users per day"}])
    assert len(scripted.requests) == 2
    assert plan.query.kind == "trend"
    assert plan.query.filters[0].field == "properties.country"  # type: ignore[union-attr]
    # instructor sent the validation errors back to the model
    second = scripted.text_of(1)
    assert "is not a field" in second and "explanation" in second


def test_an_invalid_plan_without_retries_is_a_clear_error() -> None:
    scripted = ScriptedModel("invalid_then_valid")
    with pytest.raises(LLMError) as caught:
        anthropic_planner(scripted, validation_retries=0).plan(
            "system", [{"role": "user", "content": "q"}])
    assert caught.value.code == "llm_invalid_output"
    assert len(scripted.requests) == 1


@pytest.mark.parametrize(("script", "code", "text"), [
    ("overloaded_529", "llm_overloaded", "overloaded"),
    ("server_error_500", "llm_provider_error", "Internal server error"),
    ("auth_401", "llm_auth", "invalid x-api-key"),
])
def test_provider_errors_become_clear_messages(script: str, code: str, text: str) -> None:
    scripted = ScriptedModel(script)
    with pytest.raises(LLMError) as caught:
        anthropic_planner(scripted).plan("system", [{"role": "user", "content": "q"}])
    err = caught.value
    assert err.code == code and text in err.message and err.hint
    assert len(scripted.requests) == 1  # the SDK's own retries are off in tests


def test_provider_error_during_ask_is_reported_and_kept_in_the_session(
        engine: DuckDBEngine, policy: Policy, audit: AuditLog, db: SqlEngine) -> None:
    session = Session(app_id="shop")
    with pytest.raises(LLMError, match="overloaded"):
        ask("events per day", session, engine, policy, planner=anthropic_planner(
            ScriptedModel("overloaded_529")), audit=audit, today=TODAY, limiter=RateLimiter())
    assert session.turns[-1].ok is False
    assert session.turns[-1].error is not None
    assert session.turns[-1].error["code"] == "llm_overloaded"


def test_openai_compatible_endpoint(engine: DuckDBEngine, policy: Policy) -> None:
    scripted = ScriptedModel("openai_top_events")
    answer = ask("top 3 events", Session(app_id="shop"), engine, policy,
                 planner=openai_planner(scripted), today=TODAY, limiter=RateLimiter())
    assert isinstance(answer.plan.query, TopEvents)
    assert answer.table.column("event_type").to_pylist() == ["activation", "signup", "purchase"]
    request = scripted.requests[0]
    assert scripted.urls[0] == "http://127.0.0.1:11434/v1/chat/completions"
    assert request["messages"][0]["role"] == "system"
    assert "Only app_id = 'shop' is visible" in request["messages"][0]["content"]
    assert request["tools"][0]["function"]["name"] == "Plan"


def test_openai_compatible_endpoint_in_json_mode(engine: DuckDBEngine, policy: Policy) -> None:
    scripted = ScriptedModel("openai_json_mode")
    answer = ask("how sticky are users?", Session(app_id="shop"), engine, policy,
                 planner=openai_planner(scripted, mode="json"), today=TODAY, limiter=RateLimiter())
    assert answer.plan.query.kind == "stickiness"
    assert answer.table.column("users").to_pylist() == [3, 3, 2]
    assert "tools" not in scripted.requests[0]
    assert scripted.requests[0]["response_format"] == {"type": "json_object"}


def test_plan_schema_is_data_only() -> None:
    schema = Plan.model_json_schema()
    kinds = {d["properties"]["kind"].get("const") for d in schema["$defs"].values()
             if "kind" in d.get("properties", {}) and "const" in d["properties"]["kind"]}
    assert {"trend", "funnel", "retention", "top_events", "stickiness", "sql"} <= kinds
    assert SqlQuery(sql="SELECT 1").kind == "sql"
