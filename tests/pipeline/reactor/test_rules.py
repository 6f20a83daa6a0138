"""The rule model: JSON round trip, defaults, and errors that name their field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from pipeline.errors import PipelineError
from pipeline.reactor import (
    OPERATORS,
    ConditionLimits,
    ReactorError,
    Rule,
    RuleError,
    Throttle,
    WebhookAction,
    compile_conditions,
    parse_condition,
    parse_rule,
)
from pipeline.reactor._conditions import Not
from pipeline.reactor._errors import _OPERATORS, HINTS

FULL: dict[str, Any] = {
    "id": "r-1",
    "app_id": "shop",
    "category": "track",
    "event_type": "order_*",
    "conditions": {
        "and": [
            {"eq": {"field": "properties.plan", "value": "pro"}},
            {"gte": {"field": "properties.total", "value": 100.5}},
            {"regex": {"field": "properties.email", "pattern": r"@example\.com$"}},
        ]
    },
    "throttle": {"max_firings": 3, "window_s": 60.0, "per_user": True},
    "actions": [{"type": "webhook", "destination_id": "d-1"}, {"destination_id": "d-2"}],
    "enabled": False,
}
MINIMAL: dict[str, Any] = {"id": "r-2", "app_id": "shop", "actions": [{"destination_id": "d"}]}


def test_errors_descend_from_the_pipeline_root() -> None:
    assert issubclass(RuleError, ReactorError)
    assert issubclass(ReactorError, PipelineError)
    assert all(HINTS.values())


@pytest.mark.parametrize("raw", [FULL, MINIMAL], ids=["full", "minimal"])
def test_json_round_trip(raw: dict[str, Any]) -> None:
    rule = parse_rule(raw)
    text = rule.model_dump_json()
    assert Rule.model_validate_json(text) == rule
    assert parse_rule(text) == rule
    assert parse_rule(text.encode()) == rule
    assert parse_rule(json.dumps(raw)) == rule


def test_fields_and_defaults() -> None:
    rule = parse_rule(FULL)
    assert rule.throttle == Throttle(max_firings=3, window_s=60.0, per_user=True)
    assert rule.actions == (
        WebhookAction(destination_id="d-1"),
        WebhookAction(destination_id="d-2"),
    )
    assert (rule.category, rule.event_type, rule.enabled) == ("track", "order_*", False)
    minimal = parse_rule(MINIMAL)
    assert (minimal.category, minimal.event_type, minimal.conditions) == (None, None, None)
    assert (minimal.throttle, minimal.enabled) == (None, True)
    assert json.loads(minimal.model_dump_json())["actions"] == [
        {"type": "webhook", "destination_id": "d"}
    ]
    assert Throttle(max_firings=1, window_s=2).window_s == 2.0


def test_rules_are_frozen() -> None:
    rule = parse_rule(MINIMAL)
    with pytest.raises(ValidationError):
        rule.enabled = False  # type: ignore[misc]


def test_conditions_survive_the_round_trip() -> None:
    rule = parse_rule(parse_rule(FULL).model_dump_json())
    holds = compile_conditions(rule.conditions)
    event = {"properties": {"plan": "pro", "total": 120, "email": "a@example.com"}}
    assert holds(event) is True
    assert holds({**event, "properties": {**event["properties"], "total": 99}}) is False


def rule_with(**changes: Any) -> dict[str, Any]:
    raw = {**MINIMAL, **changes}
    return {k: v for k, v in raw.items() if v is not DROP}


DROP = object()

ERRORS = [
    (rule_with(app_id="Shop!"), "bad_app_id", "app_id"),
    (rule_with(app_id=""), "bad_app_id", "app_id"),
    (rule_with(id=""), "bad_rule", "id"),
    (rule_with(id=DROP), "missing_key", "id"),
    (rule_with(actions=[]), "bad_rule", "actions"),
    (rule_with(actions=DROP), "missing_key", "actions"),
    (rule_with(actions=[{"destination_id": "d", "url": "x"}]), "unknown_key", "actions[0].url"),
    (rule_with(actions=[{"type": "email", "destination_id": "d"}]), "bad_rule", "actions[0].type"),
    (rule_with(owner="me"), "unknown_key", "owner"),
    (rule_with(category=""), "bad_glob", "category"),
    (rule_with(event_type="x" * 201), "bad_glob", "event_type"),
    (rule_with(enabled="yes"), "bad_rule", "enabled"),
    (rule_with(throttle={"max_firings": 0, "window_s": 1}), "bad_rule", "throttle.max_firings"),
    (rule_with(throttle={"max_firings": True, "window_s": 1}), "bad_rule", "throttle.max_firings"),
    (rule_with(throttle={"max_firings": 1, "window_s": 0}), "bad_rule", "throttle.window_s"),
    (rule_with(throttle={"max_firings": 1, "window_s": "60"}), "bad_rule", "throttle.window_s"),
    (
        rule_with(throttle={"max_firings": 1, "window_s": float("inf")}),
        "bad_value",
        "throttle.window_s",
    ),
    (
        rule_with(
            conditions={
                "and": [{"exists": {"field": "user_id"}}] * 2
                + [{"regex": {"field": "user_id", "pattern": "(?<=a)"}}]
            }
        ),
        "bad_regex",
        "conditions.and[2].regex.pattern",
    ),
    (
        rule_with(conditions={"eq": {"field": "timestamp", "value": 1}}),
        "bad_field",
        "conditions.eq.field",
    ),
    (
        rule_with(conditions={"not": {"not": {"and": [{"exists": {"field": "user_id"}}] * 3}}}),
        "too_many_nodes",
        "conditions.not.not.and[1]",
    ),
]


@pytest.mark.parametrize(("raw", "code", "field"), ERRORS, ids=[e[1] for e in ERRORS])
def test_error_names_its_field(raw: dict[str, Any], code: str, field: str) -> None:
    limits = ConditionLimits(max_nodes=4)
    with pytest.raises(RuleError) as caught:
        parse_rule(raw, limits=limits)
    error = caught.value
    assert (error.code, error.facts["field"]) == (code, field)
    body = error.to_dict()
    assert (body["code"], body["hint"], body["field"]) == (code, HINTS[code], field)
    assert body["message"].startswith(f"{field}: ")
    with pytest.raises(RuleError) as again:
        parse_rule(json.dumps(raw), limits=limits)
    assert (again.value.code, again.value.facts["field"]) == (code, field)


def test_invalid_json_text() -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule('{"id": ')
    assert caught.value.code == "invalid_json"


def test_model_validate_json_keeps_our_codes_in_pydantic_errors() -> None:
    with pytest.raises(ValidationError) as caught:
        Rule.model_validate_json(json.dumps(rule_with(app_id="Shop!")))
    assert caught.value.errors()[0]["type"] == "bad_app_id"


def test_built_conditions_are_checked_too() -> None:
    condition = parse_condition({"exists": {"field": "user_id"}})
    rule = Rule(
        id="r", app_id="shop", actions=(WebhookAction(destination_id="d"),), conditions=condition
    )
    assert parse_rule(rule.model_dump_json()) == rule
    for _ in range(16):
        condition = Not(not_=condition)
    with pytest.raises(ValidationError) as caught:
        Rule(
            id="r",
            app_id="shop",
            actions=(WebhookAction(destination_id="d"),),
            conditions=condition,
        )
    assert caught.value.errors()[0]["type"] == "too_deep"


def test_error_module_knows_every_operator() -> None:
    assert set(OPERATORS) == _OPERATORS
