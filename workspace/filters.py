"""Dashboard filters (date range, app) and how they wrap a tile's SQL.

The date range is applied by replacing every reference to ``events`` in the tile's query with
the same table restricted to the range (on the ``dt`` partition column, so whole partitions are
skipped); the app filter becomes the guardrails' tenant scope, so it is enforced the same way
as a user's or an embed link's scope. Filters round-trip through the URL query string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import sqlglot
from sqlglot import exp

from causality.errors import CausalityError
from warehouse.errors import LayoutError
from warehouse.layout import validate_app_id


class FilterError(CausalityError):
    code = "bad_filter"


@dataclass(frozen=True)
class Filters:
    start: date | None = None
    end: date | None = None
    app_id: str | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise FilterError(f"the range starts ({self.start}) after it ends ({self.end})",
                              hint="swap the dates")
        if self.app_id is not None:
            try:
                validate_app_id(self.app_id)
            except LayoutError as err:  # a bad ?app= in the URL is a filter error too
                raise FilterError(err.message, code=err.code, hint=err.hint) from None

    def to_params(self) -> dict[str, str]:
        """For ``st.query_params``: only what is set."""
        out = {"from": self.start.isoformat() if self.start else None,
               "to": self.end.isoformat() if self.end else None, "app": self.app_id}
        return {k: v for k, v in out.items() if v}

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Filters:
        """Parse the URL's ``from``/``to``/``app``; raises `FilterError` on a bad value."""
        return cls(start=_day(params.get("from"), "from"), end=_day(params.get("to"), "to"),
                   app_id=params.get("app") or None)


def _day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FilterError(f"{name}={text[:40]!r} is not a date", hint="use YYYY-MM-DD") from None


def restrict_dates(sql: str, start: date | None, end: date | None,
                   table: str = "events") -> str:
    """``sql`` with each ``table`` reference limited to ``start``..``end`` (inclusive).

    Unparseable SQL is returned unchanged: the guardrails reject it with their own error.
    """
    if start is None and end is None:
        return sql
    try:
        tree = sqlglot.parse_one(sql, read="trino")
    except (sqlglot.errors.SqlglotError, RecursionError):  # e.g. an unterminated string
        return sql
    if any(cte.alias_or_name.lower() == table for cte in tree.find_all(exp.CTE)):
        # Which references such a WITH query hides is the guardrails' scope question; a
        # date range silently applied to the wrong relation would be worse than none.
        raise FilterError(f"the query names a WITH query {table}, so the date range cannot "
                          "be applied", code="filter_unsupported",
                          hint=f"rename the WITH query, e.g. {table}_1")
    dt = exp.column("dt")
    conditions: list[exp.Expr] = []
    if start is not None:
        conditions.append(exp.GTE(this=dt, expression=exp.Literal.string(start.isoformat())))
    if end is not None:
        conditions.append(exp.LTE(this=dt.copy(), expression=exp.Literal.string(end.isoformat())))

    def swap(node: exp.Expr) -> exp.Expr:
        if (isinstance(node, exp.Table) and node.name.lower() == table and not node.args.get(
                "db") and isinstance(node.parent, exp.From | exp.Join)):
            inner = exp.select("*").from_(exp.table_(table)).where(exp.and_(*conditions))
            return inner.subquery(node.alias or table)
        return node

    return tree.transform(swap).sql(dialect="trino")
