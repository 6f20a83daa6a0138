"""The parts every insight shares: fields, filters, a breakdown and a date range.

A *field* is an ``events`` column from `COLUMNS`, or a key of the JSON ``properties``
(``properties.country``) or ``context`` (``context.device.type``) column. Keys match
`KEY_PATTERN`; they end up inside a string literal (``'$.country'``) anyway.
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from sqlglot import exp

from workspace.insights._sql import and_, col, lit, sql, timestamp

KEY_PATTERN = re.compile(r"[A-Za-z0-9_]{1,64}")
JSON_COLUMNS = ("properties", "context")
MAX_JSON_DEPTH = 3
#: Text columns an insight may filter or break down by (times have the date range).
COLUMNS = ("event_type", "category", "user_id", "anonymous_id", "session_id", "event_id",
           "app_id", "dt", "hour")
MAX_IN_VALUES = 100
MAX_VALUE_CHARS = 1000
MAX_RANGE_DAYS = 3660
EVENT_NAME = Field(min_length=1, max_length=200)


class _EventMark:
    """Marks a field that holds an ``event_type`` (pydantic keeps it, the schema ignores it)."""


EVENT_MARK = _EventMark()
EventName = Annotated[str, EVENT_NAME, EVENT_MARK]

Scalar = str | int | float | bool
Op = Literal["eq", "neq", "in", "not_in", "contains", "not_contains", "gt", "gte", "lt",
             "lte", "is_set", "is_not_set"]
_COMPARE = {"gt": exp.GT, "gte": exp.GTE, "lt": exp.LT, "lte": exp.LTE}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def is_event_field(field: FieldInfo) -> bool:
    """Whether `field` holds an `EventName` (optional or not)."""
    return EVENT_MARK in field.metadata or any(
        EVENT_MARK in getattr(arg, "__metadata__", ()) for arg in get_args(field.annotation))


def check_field(value: str) -> str:
    """Accept a column from `COLUMNS` or ``properties.<key>`` / ``context.<key>[.<key>]``."""
    if value in COLUMNS:
        return value
    head, _, rest = value.partition(".")
    keys = rest.split(".") if rest else []
    if head in JSON_COLUMNS and 0 < len(keys) <= MAX_JSON_DEPTH and all(
            KEY_PATTERN.fullmatch(k) for k in keys):
        return value
    raise ValueError(
        f"{value!r} is not a field: use one of {', '.join(COLUMNS)}, or properties.<key> "
        "(key: letters, digits, underscore, at most 64)")


def check_key(value: str) -> str:
    if not KEY_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not a property key (letters, digits, underscore, "
                         "1-64 characters)")
    return value


def field_expr(field: str, table: str | None = None) -> exp.Expr:
    """The SQL for a validated field: a column or ``json_extract_scalar(col, '$.key')``."""
    check_field(field)
    if field in COLUMNS:
        return col(field, table)
    head, _, rest = field.partition(".")
    return sql("json_extract_scalar(:doc, :path)", {"doc": col(head, table), "path": f"$.{rest}"})


def number_expr(expression: exp.Expr) -> exp.Expr:
    return sql("TRY_CAST(:x AS DOUBLE)", {"x": expression})


class Filter(_Model):
    """``field op value``: a column or a JSON property compared with literal values."""

    field: str = Field(description="an events column, or properties.<key>")
    op: Op = "eq"
    value: Scalar | list[Scalar] | None = Field(
        None, description="a list for in/not_in; none for is_set/is_not_set; a number for "
                          "gt/gte/lt/lte compares numerically")

    @field_validator("field")
    @classmethod
    def _valid_field(cls, value: str) -> str:
        return check_field(value)

    @model_validator(mode="after")
    def _value_fits_op(self) -> Filter:
        value, op = self.value, self.op
        if op in ("is_set", "is_not_set"):
            if value is not None:
                raise ValueError(f"{op} takes no value")
            return self
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not 0 < len(value) <= MAX_IN_VALUES:
                raise ValueError(f"{op} needs a list of 1-{MAX_IN_VALUES} values")
            items = value
        elif isinstance(value, list) or value is None:
            raise ValueError(f"{op} needs a single value")
        else:
            items = [value]
        for item in items:
            if isinstance(item, str) and len(item) > MAX_VALUE_CHARS:
                raise ValueError(f"values are at most {MAX_VALUE_CHARS} characters")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError("numbers must be finite")
        if op in ("contains", "not_contains") and not isinstance(value, str):
            raise ValueError(f"{op} needs a text value")
        return self

    def expr(self, table: str | None = None) -> exp.Expr:
        target = field_expr(self.field, table)
        op, value = self.op, self.value
        if op == "is_set":
            return exp.Not(this=exp.Is(this=target, expression=exp.Null()))
        if op == "is_not_set":
            return exp.Is(this=target, expression=exp.Null())
        if op in ("contains", "not_contains"):
            assert isinstance(value, str)
            found = sql("strpos(lower(:x), :needle) > 0", {"x": target, "needle": value.lower()})
            return found if op == "contains" else _or_null(target, exp.Not(this=found))
        items = value if isinstance(value, list) else [value]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in items)
        left = number_expr(target) if numeric else target
        literals = [lit(_text(v)) if not numeric else lit(v) for v in items if v is not None]
        if op in _COMPARE:
            return _COMPARE[op](this=left, expression=literals[0])
        if op in ("in", "not_in"):
            inside = exp.In(this=left, expressions=literals)
            return inside if op == "in" else _or_null(target, exp.Not(this=inside))
        equal = exp.EQ(this=left, expression=literals[0])
        return equal if op == "eq" else _or_null(target, exp.Not(this=equal))


def _text(value: Scalar | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _or_null(target: exp.Expr, negated: exp.Expr) -> exp.Expr:
    """A negative filter keeps rows where the field is absent ("country is not US")."""
    return exp.paren(exp.or_(exp.Is(this=target.copy(), expression=exp.Null()), negated))


def filters_expr(filters: list[Filter], table: str | None = None) -> list[exp.Expr]:
    return [f.expr(table) for f in filters]


class Breakdown(_Model):
    """Split by a field: the top `limit` values by the measure, the rest as ``other``."""

    field: str = Field(description="an events column, or properties.<key>")
    limit: int = Field(5, ge=1, le=50)

    @field_validator("field")
    @classmethod
    def _valid_field(cls, value: str) -> str:
        return check_field(value)


NONE_LABEL = "(none)"
OTHER_LABEL = "other"


def breakdown_expr(breakdown: Breakdown, table: str | None = None) -> exp.Expr:
    """The breakdown value as text, ``(none)`` where it is missing."""
    return sql("coalesce(:x, :none)",
               {"x": field_expr(breakdown.field, table), "none": NONE_LABEL})


class DateRange(_Model):
    """Whole UTC days: `start`..`end` (both included), or the `last_days` complete days
    before today (today excluded, so "last 7 days" is the 7 finished days)."""

    start: date | None = None
    end: date | None = None
    last_days: int | None = Field(None, ge=1, le=MAX_RANGE_DAYS)

    @model_validator(mode="after")
    def _one_kind(self) -> DateRange:
        absolute = self.start is not None or self.end is not None
        if absolute == (self.last_days is not None):
            raise ValueError("give either start and end, or last_days")
        if absolute:
            if self.start is None or self.end is None:
                raise ValueError("give both start and end (inclusive dates)")
            if self.end < self.start:
                raise ValueError("end is before start")
            if (self.end - self.start).days >= MAX_RANGE_DAYS:
                raise ValueError(f"a date range spans at most {MAX_RANGE_DAYS} days")
        return self

    def resolve(self, today: date) -> tuple[date, date]:
        """(first day, last day), both included."""
        if self.last_days is not None:
            return today - timedelta(days=self.last_days), today - timedelta(days=1)
        assert self.start is not None and self.end is not None
        return self.start, self.end


def range_expr(date_range: DateRange, today: date, table: str | None = None) -> exp.Expr:
    """Both the partition column (pruning) and the exact event time."""
    first, last = date_range.resolve(today)
    return and_([
        exp.GTE(this=col("dt", table), expression=lit(first.isoformat())),
        exp.LTE(this=col("dt", table), expression=lit(last.isoformat())),
        exp.GTE(this=col("event_time", table), expression=timestamp(first)),
        exp.LT(this=col("event_time", table), expression=timestamp(last + timedelta(days=1))),
    ])


def event_expr(event: str | None, table: str | None = None) -> list[exp.Expr]:
    """``event_type = '<event>'``, or nothing for any event."""
    if event is None:
        return []
    return [exp.EQ(this=col("event_type", table), expression=lit(event))]
