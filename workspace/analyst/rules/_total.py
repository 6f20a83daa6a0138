"""One number (or one number per breakdown value) as SQL: "how many signups last week",
"revenue by country". No insight returns a single total, so these are `SqlQuery` plans,
built from constant templates and the insights' own filters and date ranges (sqlglot
literals, never question text)."""

from __future__ import annotations

from datetime import date

from workspace.analyst.plan import SqlQuery
from workspace.insights import DateRange, Filter
from workspace.insights._fields import (
    check_key,
    event_expr,
    field_expr,
    number_expr,
    range_expr,
)
from workspace.insights._sql import Value, and_, sql, to_trino

_AGGREGATE = {"events": "count(*)", "users": "count(DISTINCT user_id)", "sum": "sum(:v)",
              "avg": "avg(:v)"}
_NAMES = {"events": "events", "users": "users", "sum": "total", "avg": "average"}


def total(*, measure: str, prop: str | None, event: str | None, filters: list[Filter],
          date_range: DateRange | None, breakdown: str | None, today: date) -> SqlQuery:
    """``SELECT [group,] aggregate FROM events WHERE ...``: `measure` is events, users,
    sum or avg (the last two of the numeric property `prop`)."""
    conditions = [*event_expr(event), *(f.expr() for f in filters)]
    if date_range is not None:
        conditions.append(range_expr(date_range, today))
    values: dict[str, Value] = {"cond": and_(conditions)}
    aggregate = _AGGREGATE[measure]
    if measure in ("sum", "avg"):
        assert prop is not None
        values["v"] = number_expr(field_expr(f"properties.{check_key(prop)}"))
    name = _NAMES[measure]
    if breakdown is None:
        query = sql(f"SELECT {aggregate} AS {name} FROM events WHERE :cond", values)
    else:
        values["group"] = field_expr(breakdown)
        query = sql(f"SELECT :group AS breakdown, {aggregate} AS {name} FROM events WHERE :cond "
                    "GROUP BY 1 ORDER BY 2 DESC", values)
    return SqlQuery(sql=to_trino(query))
