"""Insight validation and the shape of the SQL they compile to (no engine needed)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlglot
from pydantic import TypeAdapter, ValidationError
from sqlglot import exp

from guardrails import Policy, check
from warehouse.schema import TRINO_TYPES
from workspace.insights import (
    Breakdown,
    DateRange,
    Filter,
    Funnel,
    FunnelStep,
    Insight,
    Retention,
    Stickiness,
    TopEvents,
    Trend,
    compile_insight,
)

TODAY = date(2026, 11, 1)
RANGE = DateRange(start=date(2026, 10, 1), end=date(2026, 10, 7))
HOSTILE = "x' OR '1'='1'; DROP TABLE events; --"
STEPS = [FunnelStep(event="signup"), FunnelStep(event="activation"),
         FunnelStep(event="purchase", filters=[Filter(field="properties.plan", value="pro")])]

EXAMPLES: list[Any] = [
    Trend(date_range=RANGE),
    Trend(date_range=DateRange(last_days=30), measure="users", interval="week"),
    Trend(date_range=RANGE, event="purchase", measure="sum", property="revenue",
          interval="month", breakdown=Breakdown(field="properties.country", limit=3),
          filters=[Filter(field="properties.device", op="not_in", value=["web", HOSTILE]),
                   Filter(field="context.device.type", op="is_set"),
                   Filter(field="hour", op="gte", value="18")]),
    Trend(date_range=RANGE, measure="avg", property="revenue", interval="hour",
          breakdown=Breakdown(field="event_type")),
    Funnel(steps=STEPS, date_range=RANGE),
    Funnel(steps=STEPS[:2], window=30, window_unit="minute", date_range=RANGE,
           breakdown=Breakdown(field="properties.device", limit=2),
           filters=[Filter(field="properties.country", op="contains", value=HOSTILE)]),
    Retention(date_range=RANGE),
    Retention(date_range=RANGE, start_event="signup", return_event="purchase", period="month",
              periods=3, filters=[Filter(field="properties.plan", op="neq", value=HOSTILE)]),
    TopEvents(date_range=RANGE, limit=5),
    Stickiness(date_range=RANGE, event="page"),
]


@pytest.mark.parametrize("insight", EXAMPLES, ids=lambda i: i.kind)
def test_compiled_sql_is_trino_that_duckdb_and_the_guardrails_accept(insight: Any) -> None:
    sql = compile_insight(insight, TODAY)
    tree = sqlglot.parse_one(sql, read="trino")
    assert isinstance(tree, exp.Query)
    duck = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
    sqlglot.parse_one(duck, read="duckdb")
    checked = check(sql, {"events": TRINO_TYPES}, Policy(tenant_app_id="shop"))
    assert "tenant_filter" in checked.changes
    assert compile_insight(insight, TODAY) == sql  # deterministic


@pytest.mark.parametrize("insight", EXAMPLES, ids=lambda i: i.kind)
def test_every_scan_filters_dt_and_event_time(insight: Any) -> None:
    tree = sqlglot.parse_one(compile_insight(insight, TODAY), read="trino")
    scans = 0
    for select in tree.find_all(exp.Select):
        source = select.args.get("from_")
        scans_events = any(t.name == "events" for t in select.find_all(exp.Table)
                           if t.parent_select is select)
        if source is None or not scans_events:
            continue
        where = select.args["where"].sql(dialect="trino")
        assert "dt >= '" in where and "dt <= '" in where, where
        assert "event_time >= CAST(" in where and "event_time < CAST(" in where, where
        scans += 1
    assert scans >= 1


def test_hostile_values_stay_inside_one_literal() -> None:
    for insight in EXAMPLES:
        tree = sqlglot.parse_one(compile_insight(insight, TODAY), read="trino")
        assert not any(isinstance(n, exp.Drop) for n in tree.walk())
        literals = {n.this for n in tree.find_all(exp.Literal) if n.is_string}
        if "DROP" in compile_insight(insight, TODAY):
            assert HOSTILE in literals or HOSTILE.lower() in literals


def test_json_properties_are_read_with_json_extract_scalar() -> None:
    sql = compile_insight(Trend(date_range=RANGE, filters=[
        Filter(field="properties.country", value="US")]), TODAY)
    assert "JSON_EXTRACT_SCALAR(properties, '$.country') = 'US'" in sql
    nested = compile_insight(Trend(date_range=RANGE, filters=[
        Filter(field="context.device.type", value="ios")]), TODAY)
    assert "JSON_EXTRACT_SCALAR(context, '$.device.type') = 'ios'" in nested


def test_numbers_compare_numerically_and_text_as_text() -> None:
    sql = compile_insight(Trend(date_range=RANGE, filters=[
        Filter(field="properties.revenue", op="lt", value=9.5),
        Filter(field="properties.vip", value=True)]), TODAY)
    assert "TRY_CAST(JSON_EXTRACT_SCALAR(properties, '$.revenue') AS DOUBLE) < 9.5" in sql
    assert "JSON_EXTRACT_SCALAR(properties, '$.vip') = 'true'" in sql


def test_negative_filters_keep_rows_without_the_field() -> None:
    sql = compile_insight(Trend(date_range=RANGE, filters=[
        Filter(field="properties.country", op="neq", value="US")]), TODAY)
    assert "JSON_EXTRACT_SCALAR(properties, '$.country') IS NULL" in sql


@pytest.mark.parametrize("field", [
    "usr_id", "properties", "properties.", "properties.country') OR 1=1 --", "properties.a-b",
    "properties." + "k" * 65, "event_time", "other.key", "context.a.b.c.d", "app_id; --",
])
def test_bad_fields_are_rejected(field: str) -> None:
    with pytest.raises(ValidationError, match="is not a field"):
        Filter(field=field, value="x")
    with pytest.raises(ValidationError):
        Breakdown(field=field)


@pytest.mark.parametrize(("op", "value", "message"), [
    ("in", "US", "needs a list"),
    ("in", [], "needs a list"),
    ("eq", ["US"], "single value"),
    ("eq", None, "single value"),
    ("is_set", "x", "takes no value"),
    ("contains", 3, "needs a text value"),
    ("eq", "x" * 1001, "at most 1000"),
])
def test_filter_value_must_fit_the_op(op: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Filter(field="event_type", op=op, value=value)  # type: ignore[arg-type]


def test_date_ranges() -> None:
    assert DateRange(last_days=7).resolve(TODAY) == (date(2026, 10, 25), date(2026, 10, 31))
    assert RANGE.resolve(TODAY) == (date(2026, 10, 1), date(2026, 10, 7))
    for bad in ({}, {"start": "2026-10-02"}, {"start": "2026-10-02", "end": "2026-10-01"},
                {"start": "2026-10-01", "end": "2026-10-02", "last_days": 3},
                {"last_days": 0}, {"start": "2000-01-01", "end": "2026-01-01"}):
        with pytest.raises(ValidationError):
            DateRange.model_validate(bad)


def test_measure_needs_a_property_key() -> None:
    with pytest.raises(ValidationError, match="needs property"):
        Trend(date_range=RANGE, measure="sum")
    with pytest.raises(ValidationError, match="not a property key"):
        Trend(date_range=RANGE, measure="sum", property="revenue)) --")
    with pytest.raises(ValidationError, match="takes no property"):
        Trend(date_range=RANGE, property="revenue")


def test_insight_union_is_discriminated_on_kind() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(Insight)
    parsed = adapter.validate_python({"kind": "funnel", "date_range": {"last_days": 7},
                                      "steps": [{"event": "a"}, {"event": "b"}]})
    assert isinstance(parsed, Funnel)
    with pytest.raises(ValidationError):
        adapter.validate_python({"kind": "pie", "date_range": {"last_days": 7}})
    with pytest.raises(ValidationError):  # unknown keys are refused, not ignored
        adapter.validate_python({"kind": "trend", "date_range": {"last_days": 7}, "sql": "x"})
    with pytest.raises(ValidationError):
        Funnel(steps=[FunnelStep(event="only")], date_range=RANGE)


@pytest.mark.parametrize("field", ["properties.country\n", "context.device\n.type",
                                   "properties.a\nb"])
def test_a_key_with_a_newline_is_not_a_field(field: str) -> None:
    from workspace.insights._fields import check_field, check_key

    with pytest.raises(ValueError):
        check_field(field)
    with pytest.raises(ValueError):
        check_key(next(key for key in field.split(".") if "\n" in key))
