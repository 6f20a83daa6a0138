"""The condition language: every operator by hand, the caps and their codes, and properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.reactor import (
    ConditionLimits,
    RuleError,
    compile_conditions,
    parse_condition,
)
from pipeline.reactor._conditions import Pattern, Regex

EVENT: dict[str, Any] = {
    "event_type": "order_completed",
    "category": "track",
    "app_id": "shop",
    "user_id": "u1",
    "anonymous_id": None,
    "session_id": "s1",
    "properties": {
        "plan": "pro",
        "price": 10,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
        "tags": ["a", 1, True, {"x": 1}],
        "items": [{"sku": "A"}],
        "nested": {"deep": {"er": "yes"}},
        "email": "ann@example.com",
        "obj": {"k": 1},
    },
    "context": {"page": {"url": "https://example.com/pricing"}, "locale": "en"},
}


def holds(condition: Any, event: Any = EVENT) -> bool:
    return compile_conditions(parse_condition(condition))(event)


def leaf(op: str, field: str, value: Any) -> dict[str, Any]:
    return {op: {"field": field, "value": value}}


CASES = [
    # eq: same kind and equal; 1 == 1.0; bool is not a number; missing and null equal nothing
    (leaf("eq", "properties.plan", "pro"), True),
    (leaf("eq", "properties.plan", "free"), False),
    (leaf("eq", "properties.price", 10.0), True),
    (leaf("eq", "properties.price", "10"), False),
    (leaf("eq", "properties.flag", True), True),
    (leaf("eq", "properties.flag", 1), False),
    (leaf("eq", "properties.missing", "pro"), False),
    (leaf("eq", "properties.nothing", "pro"), False),
    (leaf("eq", "properties.obj", "x"), False),
    (leaf("eq", "user_id", "u1"), True),
    (leaf("eq", "event_type", "order_completed"), True),
    (leaf("eq", "category", "track"), True),
    (leaf("eq", "app_id", "shop"), True),
    (leaf("eq", "session_id", "s1"), True),
    (leaf("eq", "context.page.url", "https://example.com/pricing"), True),
    (leaf("eq", "properties.nested.deep.er", "yes"), True),
    # paths index objects only: a list on the path is missing
    (leaf("eq", "properties.items.0.sku", "A"), False),
    (leaf("eq", "properties.plan.x", "pro"), False),
    # ne: present, same kind and different; missing, null and other kinds are false
    (leaf("ne", "properties.plan", "free"), True),
    (leaf("ne", "properties.plan", "pro"), False),
    (leaf("ne", "properties.missing", "free"), False),
    (leaf("ne", "properties.nothing", "free"), False),
    (leaf("ne", "properties.price", "free"), False),
    (leaf("ne", "properties.price", 10.0), False),
    (leaf("ne", "properties.flag", False), True),
    (leaf("ne", "anonymous_id", "x"), False),
    # gt/gte/lt/lte: numbers with numbers, strings with strings
    (leaf("gt", "properties.price", 9), True),
    (leaf("gt", "properties.price", 10), False),
    (leaf("gte", "properties.price", 10.0), True),
    (leaf("lt", "properties.ratio", 1), True),
    (leaf("lte", "properties.ratio", 0.5), True),
    (leaf("lt", "properties.price", "z"), False),
    (leaf("gt", "properties.flag", 0), False),
    (leaf("gt", "properties.plan", "pra"), True),
    (leaf("lt", "properties.plan", "pro"), False),
    (leaf("lte", "properties.plan", "pro"), True),
    (leaf("gt", "properties.missing", 0), False),
    (leaf("gt", "properties.tags", 0), False),
    # contains: substring of a string, element of a list (as eq says)
    (leaf("contains", "properties.email", "@example."), True),
    (leaf("contains", "properties.email", "@other."), False),
    (leaf("contains", "properties.email", ""), True),
    (leaf("contains", "properties.price", "1"), False),
    (leaf("contains", "properties.tags", "a"), True),
    (leaf("contains", "properties.tags", 1.0), True),
    (leaf("contains", "properties.tags", True), True),
    (leaf("contains", "properties.tags", "b"), False),
    (leaf("contains", "properties.tags", 2), False),
    (leaf("contains", "properties.missing", "a"), False),
    (leaf("contains", "properties.obj", "k"), False),
    # in: exact match by kind
    ({"in": {"field": "properties.plan", "values": ["free", "pro"]}}, True),
    ({"in": {"field": "properties.plan", "values": ["free"]}}, False),
    ({"in": {"field": "properties.price", "values": [10.0]}}, True),
    ({"in": {"field": "properties.flag", "values": [1]}}, False),
    ({"in": {"field": "properties.flag", "values": [True]}}, True),
    ({"in": {"field": "properties.price", "values": [True, "10"]}}, False),
    ({"in": {"field": "properties.missing", "values": ["pro"]}}, False),
    ({"in": {"field": "properties.tags", "values": ["a"]}}, False),
    # exists: present and not null
    ({"exists": {"field": "context.page.url"}}, True),
    ({"exists": {"field": "properties.obj"}}, True),
    ({"exists": {"field": "properties.nothing"}}, False),
    ({"exists": {"field": "properties.missing"}}, False),
    ({"exists": {"field": "anonymous_id"}}, False),
    # regex: RE2 search on strings only
    ({"regex": {"field": "properties.email", "pattern": r"@example\.com$"}}, True),
    ({"regex": {"field": "properties.email", "pattern": r"^example"}}, False),
    ({"regex": {"field": "properties.price", "pattern": "1"}}, False),
    ({"regex": {"field": "properties.missing", "pattern": ".*"}}, False),
    ({"regex": {"field": "context.locale", "pattern": "(?i)EN"}}, True),
    # and / or / not
    ({"and": [leaf("eq", "properties.plan", "pro"), leaf("gt", "properties.price", 5)]}, True),
    ({"and": [leaf("eq", "properties.plan", "pro"), leaf("gt", "properties.price", 50)]}, False),
    ({"or": [leaf("eq", "properties.plan", "free"), leaf("gt", "properties.price", 5)]}, True),
    ({"or": [leaf("eq", "properties.plan", "free"), leaf("gt", "properties.price", 50)]}, False),
    ({"not": leaf("eq", "properties.missing", "x")}, True),
    ({"not": leaf("ne", "properties.missing", "x")}, True),
    ({"not": {"not": leaf("eq", "properties.plan", "pro")}}, True),
]


@pytest.mark.parametrize(("condition", "expected"), CASES, ids=[json.dumps(c) for c, _ in CASES])
def test_operator(condition: dict[str, Any], expected: bool) -> None:
    assert holds(condition) is expected


def test_none_is_always_true() -> None:
    assert compile_conditions(None)({}) is True


@pytest.mark.parametrize("event", [{}, {"properties": None}, {"properties": [1]}, [], None, 3])
def test_odd_events_evaluate_false(event: Any) -> None:
    assert holds(leaf("eq", "properties.plan", "pro"), event) is False
    assert holds({"exists": {"field": "user_id"}}, event) is False


def test_lone_surrogate_does_not_reach_re2() -> None:
    event = {"properties": {"s": "a\ud800b"}}
    assert holds({"regex": {"field": "properties.s", "pattern": "a"}}, event) is False


class Recording(dict[str, Any]):
    """An event that notes which top-level fields were read."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.read.append(key)
        return super().get(key, default)


@pytest.mark.parametrize(
    ("op", "first", "expected"),
    [("and", leaf("eq", "user_id", "nobody"), False), ("or", leaf("eq", "user_id", "u1"), True)],
)
def test_and_or_short_circuit(op: str, first: dict[str, Any], expected: bool) -> None:
    event = Recording(EVENT)
    condition = {op: [first, leaf("eq", "session_id", "s1")]}
    assert holds(condition, event) is expected
    assert event.read == ["user_id"]


@pytest.mark.timeout(10)
def test_catastrophic_pattern_is_linear() -> None:
    condition = {"regex": {"field": "properties.s", "pattern": "(a+)+$"}}
    event = {"properties": {"s": "a" * 50_000 + "b"}}
    assert holds(condition, event) is False  # exponential for a backtracking engine
    assert holds({"regex": {"field": "properties.s", "pattern": "(a+)+b$"}}, event) is True


def test_conditions_compile_from_json_text() -> None:
    text = json.dumps(
        {
            "or": [
                leaf("eq", "properties.plan", "free"),
                {"not": {"exists": {"field": "properties.missing"}}},
            ]
        }
    )
    assert holds(text) is True
    assert parse_condition(text) == parse_condition(json.loads(text))


def test_round_trip_keeps_aliases() -> None:
    raw = {
        "and": [
            {"in": {"field": "user_id", "values": [1, 1.5, "a", True]}},
            {"or": [{"not": {"exists": {"field": "context.x"}}}]},
        ]
    }
    condition = parse_condition(raw)
    assert json.loads(parse_condition(raw).model_dump_json()) == raw
    assert parse_condition(condition.model_dump_json()) == condition


# -- errors: each a stable code naming its field ------------------------------------------------

EQ = leaf("eq", "properties.a", 1)


def nots(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = EQ
    for _ in range(depth - 1):
        node = {"not": node}
    return node


ERRORS = [
    (leaf("eq", "plan", 1), "bad_field", "conditions.eq.field"),
    (leaf("eq", "properties", 1), "bad_field", "conditions.eq.field"),
    (leaf("eq", "user_id.x", 1), "bad_field", "conditions.eq.field"),
    (leaf("eq", "properties..a", 1), "bad_field", "conditions.eq.field"),
    (leaf("eq", "properties.a.", 1), "bad_field", "conditions.eq.field"),
    (leaf("eq", "properties." + "a" * 1000, 1), "field_too_long", "conditions.eq.field"),
    (leaf("eq", "properties." + ".".join("abcdefghij"), 1), "path_too_long", "conditions.eq.field"),
    (nots(17), "too_deep", "conditions" + ".not" * 16),
    ({"or": [EQ] * 200}, "too_many_nodes", "conditions.or[199]"),
    (
        {"in": {"field": "user_id", "values": list(range(1001))}},
        "too_many_values",
        "conditions.in.values",
    ),
    ({"in": {"field": "user_id", "values": []}}, "bad_value", "conditions.in.values"),
    (
        {"regex": {"field": "user_id", "pattern": "a" * 1001}},
        "pattern_too_long",
        "conditions.regex.pattern",
    ),
    (leaf("eq", "user_id", "é" * 2049), "value_too_long", "conditions.eq.value"),
    (leaf("gt", "user_id", "x" * 4097), "value_too_long", "conditions.gt.value"),
    (
        {"in": {"field": "user_id", "values": ["a", "x" * 4097]}},
        "value_too_long",
        "conditions.in.values[1]",
    ),
    (
        {"and": [EQ, EQ, {"regex": {"field": "properties.email", "pattern": r"(a)\1"}}]},
        "bad_regex",
        "conditions.and[2].regex.pattern",
    ),
    (
        {"regex": {"field": "user_id", "pattern": "(((a{100}){100}){100})"}},
        "bad_regex",
        "conditions.regex.pattern",
    ),
    ({"regex": {"field": "user_id", "pattern": "(?=a)"}}, "bad_regex", "conditions.regex.pattern"),
    (leaf("eq", "user_id", [1]), "bad_value", "conditions.eq.value"),
    (leaf("eq", "user_id", None), "bad_value", "conditions.eq.value"),
    (leaf("eq", "user_id", float("inf")), "bad_value", "conditions.eq.value"),
    (leaf("lt", "user_id", False), "bad_value", "conditions.lt.value"),
    ({"not": {"bogus": {}}}, "unknown_operator", "conditions.not"),
    ({"or": [EQ, {"eq": {}, "ne": {}}]}, "bad_condition", "conditions.or[1]"),
    ({"or": [EQ, []]}, "bad_condition", "conditions.or[1]"),
    ({"eq": {"field": "user_id", "value": 1, "x": 2}}, "unknown_key", "conditions.eq.x"),
    ({"eq": {"field": "user_id"}}, "missing_key", "conditions.eq.value"),
    ({"and": []}, "bad_rule", "conditions.and"),
]


@pytest.mark.parametrize(("condition", "code", "field"), ERRORS, ids=[e[1] for e in ERRORS])
def test_error_names_its_field(condition: Any, code: str, field: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_condition(condition)
    error = caught.value
    assert (error.code, error.facts["field"]) == (code, field)
    assert error.message.startswith(field + ": ")
    assert error.hint
    assert error.to_dict()["field"] == field


def test_limits_are_parameters() -> None:
    tight = ConditionLimits(max_depth=2, max_nodes=3, max_in_values=2, max_string_bytes=3)
    parse_condition(nots(2), limits=tight)
    for condition, code in [
        (nots(3), "too_deep"),
        ({"and": [EQ, EQ, EQ]}, "too_many_nodes"),
        ({"in": {"field": "user_id", "values": [1, 2, 3]}}, "too_many_values"),
        (leaf("eq", "user_id", "abcd"), "value_too_long"),
    ]:
        with pytest.raises(RuleError) as caught:
            parse_condition(condition, limits=tight)
        assert caught.value.code == code
    with pytest.raises(RuleError) as caught:
        compile_conditions(parse_condition(nots(3)), limits=tight)
    assert caught.value.code == "too_deep"


def test_very_deep_json_is_refused_as_too_deep() -> None:
    text = '{"not":' * 5000 + json.dumps(EQ) + "}" * 5000
    with pytest.raises(RuleError) as caught:
        parse_condition(text)
    assert caught.value.code == "too_deep"
    with pytest.raises(RuleError) as caught:
        parse_condition(nots(5000))
    assert caught.value.code == "too_deep"


def test_compile_names_a_bad_pattern_that_skipped_validation() -> None:
    bad = Regex.model_construct(regex=Pattern.model_construct(field="user_id", pattern="(a)\\1"))
    with pytest.raises(RuleError) as caught:
        compile_conditions(bad)
    assert (caught.value.code, caught.value.facts["field"]) == (
        "bad_regex",
        "conditions.regex.pattern",
    )


# -- properties ---------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "page", "url", "plan"])
FIELDS = st.one_of(
    st.sampled_from(["user_id", "anonymous_id", "event_type", "category", "app_id", "session_id"]),
    st.builds(
        lambda root, keys: ".".join([root, *keys]),
        st.sampled_from(["properties", "context"]),
        st.lists(KEYS, min_size=1, max_size=3),
    ),
)
TEXT = st.text(st.characters(exclude_categories=()), max_size=6)  # lone surrogates included
NUMBERS = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False))
SCALARS = st.one_of(TEXT, NUMBERS, st.booleans())
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS | TEXT, inner, max_size=3),
    max_leaves=12,
)
EVENTS = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            name: JSONISH
            for name in (
                "properties",
                "context",
                "user_id",
                "anonymous_id",
                "event_type",
                "category",
                "app_id",
                "session_id",
            )
        },
    ),
    JSONISH,
)
PATTERNS = st.sampled_from(["a", "^a", "b$", "(a+)+$", ".*", "[0-9]+", r"\d", "(?i)URL", ""])
LEAVES = st.one_of(
    st.builds(leaf, st.sampled_from(["eq", "ne", "contains"]), FIELDS, SCALARS),
    st.builds(leaf, st.sampled_from(["gt", "gte", "lt", "lte"]), FIELDS, TEXT | NUMBERS),
    st.builds(
        lambda f, v: {"in": {"field": f, "values": v}},
        FIELDS,
        st.lists(SCALARS, min_size=1, max_size=4),
    ),
    st.builds(lambda f: {"exists": {"field": f}}, FIELDS),
    st.builds(lambda f, p: {"regex": {"field": f, "pattern": p}}, FIELDS, PATTERNS),
)
CONDITIONS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda c: {"and": c}),
        st.lists(inner, min_size=1, max_size=3).map(lambda c: {"or": c}),
        inner.map(lambda c: {"not": c}),
    ),
    max_leaves=8,
)
ROOMY = ConditionLimits(max_depth=1_000, max_nodes=10_000)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(CONDITIONS, EVENTS)
def test_evaluation_never_raises_and_not_inverts(condition: Any, event: Any) -> None:
    predicate = compile_conditions(parse_condition(condition, limits=ROOMY), limits=ROOMY)
    negated = compile_conditions(parse_condition({"not": condition}, limits=ROOMY), limits=ROOMY)
    result = predicate(event)
    assert isinstance(result, bool)
    assert negated(event) is (not result)


@given(FIELDS, SCALARS, EVENTS)
def test_eq_and_ne_never_both_hold(field: str, value: Any, event: Any) -> None:
    assert not (holds(leaf("eq", field, value), event) and holds(leaf("ne", field, value), event))
