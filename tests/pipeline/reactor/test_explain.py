"""`explain`: why a rule fires or not for one event, worked out by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.reactor import LeafCheck, ScopeCheck, Verdict, explain, parse_rule

ROW: dict[str, Any] = {
    "event_id": "e1", "event_type": "checkout_done", "category": "commerce", "app_id": "shop",
    "user_id": "u1", "anonymous_id": None, "session_id": "s1",
    "properties": json.dumps({"plan": "pro", "price": 120, "tags": ["vip"],
                              "note": "x" * 200}),
    "context": json.dumps({"locale": "de"}),
}


def rule(conditions: dict[str, Any] | None = None, **fields: Any) -> Any:
    body = {"id": "r1", "app_id": "shop", "actions": [{"destination_id": "d1"}], **fields}
    if conditions is not None:
        body["conditions"] = conditions
    return parse_rule(body)


def test_a_rule_without_conditions_matches_its_events() -> None:
    verdict = explain(rule(event_type="checkout_*"), ROW)
    assert verdict == Verdict(True, (
        ScopeCheck("app_id", "shop", "shop", True),
        ScopeCheck("category", None, "commerce", True),
        ScopeCheck("event_type", "checkout_*", "checkout_done", True)), (), None, ())


@pytest.mark.parametrize(("fields", "reason"), [
    ({"app_id": "news"}, 'app_id "shop" does not match the rule\'s name "news"'),
    ({"event_type": "Checkout_*"},
     'event_type "checkout_done" does not match the rule\'s glob "Checkout_*"'),
    ({"category": "life?ycle"},
     'category "commerce" does not match the rule\'s glob "life?ycle"'),
    ({"event_type": "checkout"},
     'event_type "checkout_done" does not match the rule\'s name "checkout"'),
])
def test_a_name_or_glob_that_does_not_fit_is_named(fields: dict[str, Any], reason: str) -> None:
    verdict = explain(rule(**fields), ROW)
    assert not verdict.matches
    assert verdict.reasons == (reason,)


def test_every_leaf_is_shown_with_its_actual_value() -> None:
    # and(eq plan pro → true, gt price 100 → true, exists context.locale → true,
    #     contains tags "vip" → true): fires
    verdict = explain(rule({"and": [
        {"eq": {"field": "properties.plan", "value": "pro"}},
        {"gt": {"field": "properties.price", "value": 100}},
        {"exists": {"field": "context.locale"}},
        {"contains": {"field": "properties.tags", "value": "vip"}},
    ]}), ROW)
    assert verdict.matches and verdict.conditions is True and verdict.reasons == ()
    assert verdict.leaves == (
        LeafCheck("conditions.and[0].eq", "properties.plan", "eq", '"pro"', '"pro"', True),
        LeafCheck("conditions.and[1].gt", "properties.price", "gt", "100", "120", True),
        LeafCheck("conditions.and[2].exists", "context.locale", "exists", "", '"de"', True),
        LeafCheck("conditions.and[3].contains", "properties.tags", "contains", '"vip"',
                  '["vip"]', True),
    )


def test_the_false_leaves_of_an_and_are_the_reasons_and_all_are_evaluated() -> None:
    # the first leaf is false; and short-circuits, explain does not: the second is shown too
    verdict = explain(rule({"and": [
        {"eq": {"field": "properties.plan", "value": "free"}},
        {"in": {"field": "user_id", "values": ["u1", "u2"]}},
        {"lt": {"field": "properties.price", "value": 50}},
    ]}), ROW)
    assert not verdict.matches and verdict.conditions is False
    assert [leaf.result for leaf in verdict.leaves] == [False, True, False]
    assert verdict.leaves[1].expected == '["u1","u2"]'
    assert verdict.reasons == (
        'conditions.and[0].eq: properties.plan eq "free" is false (actual "pro"), needed true',
        "conditions.and[2].lt: properties.price lt 50 is false (actual 120), needed true",
    )


def test_a_missing_field_and_a_wrong_kind_are_false() -> None:
    # missing: every comparison is false, ne included; "120" is a string, price a number
    verdict = explain(rule({"or": [
        {"ne": {"field": "properties.coupon", "value": "X"}},
        {"eq": {"field": "properties.price", "value": "120"}},
    ]}), ROW)
    assert [(leaf.actual, leaf.result) for leaf in verdict.leaves] == [
        ("(missing)", False), ("120", False)]
    assert len(verdict.reasons) == 2  # an or is false only when every operand is


def test_under_not_a_true_leaf_is_the_reason() -> None:
    # not(eq locale de): the leaf is true, so the rule does not fire because of it
    verdict = explain(rule({"and": [
        {"not": {"eq": {"field": "context.locale", "value": "de"}}},
        {"regex": {"field": "properties.plan", "pattern": "^p"}},
    ]}), ROW)
    assert verdict.conditions is False
    assert [leaf.at for leaf in verdict.leaves] == ["conditions.and[0].not.eq",
                                                    "conditions.and[1].regex"]
    assert verdict.reasons == (
        'conditions.and[0].not.eq: context.locale eq "de" is true (actual "de"), needed false',)


def test_an_or_that_holds_needs_no_reason_even_with_false_leaves() -> None:
    verdict = explain(rule({"or": [
        {"eq": {"field": "properties.plan", "value": "free"}},
        {"eq": {"field": "properties.plan", "value": "pro"}},
    ]}), ROW)
    assert verdict.matches and verdict.reasons == ()
    assert [leaf.result for leaf in verdict.leaves] == [False, True]


def test_scope_and_conditions_are_both_reported() -> None:
    verdict = explain(rule({"eq": {"field": "properties.plan", "value": "free"}},
                           event_type="signup"), ROW)
    assert len(verdict.reasons) == 2
    assert verdict.reasons[0].startswith("event_type")
    assert verdict.reasons[1].startswith("conditions.eq: properties.plan")


def test_long_values_are_truncated_and_decoded_properties_accepted() -> None:
    row = dict(ROW, properties={"note": "x" * 200})
    verdict = explain(rule({"contains": {"field": "properties.note", "value": "y"}}), row)
    (leaf,) = verdict.leaves
    assert len(leaf.actual) == 80 and leaf.actual.endswith("…")


def test_an_unreadable_event_is_a_reason_not_an_error() -> None:
    verdict = explain(rule({"exists": {"field": "properties.plan"}}),
                      dict(ROW, properties="{not json"))
    assert not verdict.matches and verdict.conditions is None
    assert verdict.reasons[0].startswith("properties or context is not JSON")
