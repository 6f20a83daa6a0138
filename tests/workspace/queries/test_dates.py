"""`restrict_dates` around a tile's SQL, checked by the real guardrails and run on DuckDB over
the hand-built warehouse.

The expected row counts come from `EVENTS` in tests/workspace/events_fixture.py, counted in
Python per ``dt`` (the comments give the hand count), never from the SQL under test.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import pytest
import sqlglot
from sqlglot import exp

from guardrails import Policy, Rejected, check
from tests.workspace.events_fixture import EVENTS, OTHER_APP, TENANT
from warehouse.engines.duckdb_engine import DuckDBEngine
from warehouse.schema import TRINO_TYPES
from workspace.errors import FilterError
from workspace.queries import restrict_dates

CATALOG = {"events": dict(TRINO_TYPES)}
OCT = {d: date(2026, 10, d) for d in range(1, 32)}


def fixture_days(app: str | None = None) -> Counter[str]:
    """Events per dt in the fixture, optionally of one app."""
    return Counter(datetime.strptime(f"2026-{when}", "%Y-%m-%d %H:%M").strftime("%Y-%m-%d")
                   for a, _user, _type, when, _props in EVENTS if app in (None, a))


def expected(start: date | None, end: date | None, app: str | None = None) -> int:
    lo, hi = (start or date.min).isoformat(), (end or date.max).isoformat()
    return sum(n for dt, n in fixture_days(app).items() if lo <= dt <= hi)


def run(sql: str, engine: DuckDBEngine, policy: Policy) -> list[tuple[object, ...]]:
    checked = check(sql, CATALOG, policy)
    return [tuple(r.values()) for r in engine.run(checked.sql, 10_000, 30).table.to_pylist()]


def count(sql: str, engine: DuckDBEngine, policy: Policy) -> int:
    rows = run(sql, engine, policy)
    assert len(rows) == 1
    value = rows[0][0]
    assert isinstance(value, int)
    return value


def test_the_hand_count_helper_agrees_with_a_count_by_hand() -> None:
    # shop 10-05: u1 signup/activation/purchase, u2 signup, u8 activation, anonymous signup
    # and page = 7; 10-06: u1 page, u2 activation, u3 two signups, u4 three events, u6 = 8.
    # news 10-05: u7's three events.
    assert expected(OCT[5], OCT[6], TENANT) == 15
    assert expected(OCT[5], OCT[5], OTHER_APP) == 3
    assert expected(None, None) == len(EVENTS) == 34


# -- restrict_dates: the rewrite ----------------------------------------------------------

def restricted_tables(sql: str) -> list[str]:
    """The alias of every subquery that restricts ``events`` by dt in `sql`."""
    tree = sqlglot.parse_one(sql, read="trino")
    found = []
    for sub in tree.find_all(exp.Subquery):
        inner = sub.this
        source = inner.args.get("from_") if isinstance(inner, exp.Select) else None
        where = inner.args.get("where")
        if (source is not None and isinstance(source.this, exp.Table)
                and source.this.name == "events" and where is not None
                and where.sql(dialect="trino") == "WHERE dt >= '2026-10-05' AND "
                                                 "dt <= '2026-10-06'"):
            found.append(sub.alias)
    return found


def test_no_range_leaves_the_sql_as_written() -> None:
    sql = "select count(*)  from events -- all of it"
    assert restrict_dates(sql, None, None) == sql


def test_a_plain_reference_keeps_its_name() -> None:
    out = restrict_dates("SELECT count(*) FROM events", OCT[5], OCT[6])
    assert out == ("SELECT COUNT(*) FROM (SELECT * FROM events WHERE dt >= '2026-10-05' "
                   "AND dt <= '2026-10-06') AS events")


def test_an_open_range_has_one_bound() -> None:
    assert "dt <=" not in restrict_dates("SELECT 1 FROM events", OCT[5], None)
    out = restrict_dates("SELECT 1 FROM events", None, OCT[6])
    assert "dt <= '2026-10-06'" in out and "dt >=" not in out


@pytest.mark.parametrize(("sql", "aliases"), [
    ("SELECT count(*) FROM events e WHERE e.event_type = 'page'", ["e"]),
    ("SELECT count(*) FROM events AS ev", ["ev"]),
    ("SELECT count(*) FROM EVENTS", ["events"]),
    ('SELECT count(*) FROM "events"', ["events"]),
    ("WITH s AS (SELECT user_id FROM events WHERE event_type = 'signup') "
     "SELECT count(*) FROM s", ["events"]),
    ("SELECT count(*) FROM events a JOIN events b ON a.user_id = b.user_id", ["a", "b"]),
    ("SELECT count(*) FROM (SELECT user_id FROM events) t", ["events"]),
    ("SELECT user_id FROM events UNION ALL SELECT user_id FROM events e2", ["events", "e2"]),
    ("SELECT count(*) FROM events WHERE user_id IN (SELECT user_id FROM events x)",
     ["events", "x"]),
])
def test_every_reference_is_restricted_under_its_own_alias(sql: str, aliases: list[str]) -> None:
    assert sorted(restricted_tables(restrict_dates(sql, OCT[5], OCT[6]))) == sorted(aliases)


def test_a_cte_named_like_the_table_cannot_take_a_date_range() -> None:
    sql = "SELECT count(*) FROM events WHERE user_id IN (WITH events AS (SELECT 'u' AS user_id) "\
          "SELECT user_id FROM events)"
    with pytest.raises(FilterError) as caught:
        restrict_dates(sql, OCT[5], OCT[6])
    assert caught.value.code == "filter_unsupported"
    assert "events_1" in caught.value.hint


@pytest.mark.parametrize("sql", ["SELECT count(*) FROM hive.default.events",
                                 "SELECT count(*) FROM default.events"])
def test_a_qualified_reference_is_not_rewritten_and_the_guardrails_refuse_it(sql: str) -> None:
    # Decision: only the bare catalog name is restricted. A qualified name is left as written
    # because the guardrails reject it anyway (forbidden_table), so the range is never
    # silently missing from a query that runs.
    out = restrict_dates(sql, OCT[5], OCT[6])
    assert out == sqlglot.transpile(sql, read="trino", write="trino")[0]
    for policy in (Policy(), Policy(tenant_app_id=TENANT)):
        with pytest.raises(Rejected) as caught:
            check(out, CATALOG, policy)
        assert caught.value.code == "forbidden_table"


@pytest.mark.parametrize(("sql", "code"), [
    ("SELECT FROM WHERE", "parse_error"),
    ("SELEC count(*) FROM events", "parse_error"),
    ("SELECT (1 FROM events", "parse_error"),
    ("SELECT 'unterminated FROM events", "parse_error"),
    ('SELECT "unterminated FROM events', "parse_error"),
    ("SELECT count(*) FROM events /* unterminated", "parse_error"),
    ("(" * 5000 + "SELECT 1", "too_complex"),
    ("", "empty_query"),
    ("-- only a comment", "empty_query"),
])
def test_unparseable_sql_comes_back_unchanged_and_is_rejected(sql: str, code: str) -> None:
    assert restrict_dates(sql, OCT[5], OCT[6]) == sql
    with pytest.raises(Rejected) as caught:
        check(restrict_dates(sql, OCT[5], OCT[6]), CATALOG, Policy())
    assert caught.value.code == code


def test_a_second_statement_is_still_refused_after_the_rewrite() -> None:
    out = restrict_dates("SELECT count(*) FROM events; DROP TABLE events", OCT[5], OCT[6])
    with pytest.raises(Rejected) as caught:
        check(out, CATALOG, Policy(tenant_app_id=TENANT))
    assert caught.value.code in ("multiple_statements", "not_read_only")


def test_other_tables_named_like_a_column_are_left_alone() -> None:
    out = restrict_dates("SELECT count(*) FROM sessions", OCT[5], OCT[6])
    assert "dt" not in out


# -- restrict_dates: what the rewritten SQL returns ---------------------------------------

RANGES = [(OCT[5], OCT[6]), (OCT[4], OCT[4]), (OCT[7], OCT[14]), (OCT[5], None),
          (None, OCT[5]), (OCT[22], OCT[31])]


@pytest.mark.parametrize(("start", "end"), RANGES)
@pytest.mark.parametrize("tenant", [None, TENANT, OTHER_APP])
def test_the_restricted_count_is_the_hand_count(engine: DuckDBEngine, start: date | None,
                                                end: date | None, tenant: str | None) -> None:
    policy = Policy(tenant_app_id=tenant)
    sql = restrict_dates("SELECT count(*) AS n FROM events", start, end)
    assert count(sql, engine, policy) == expected(start, end, tenant)


@pytest.mark.parametrize("tenant", [None, TENANT])
def test_shapes_return_the_same_rows_as_an_explicit_where(engine: DuckDBEngine,
                                                          tenant: str | None) -> None:
    policy = Policy(tenant_app_id=tenant)
    start, end = OCT[5], OCT[7]
    where = "dt BETWEEN '2026-10-05' AND '2026-10-07'"
    cases = [
        ("SELECT e.event_type, count(*) AS n FROM events e GROUP BY 1 ORDER BY 1",
         f"SELECT e.event_type, count(*) AS n FROM events e WHERE {where} GROUP BY 1 "
         "ORDER BY 1"),
        ("WITH s AS (SELECT DISTINCT user_id FROM events WHERE event_type = 'signup') "
         "SELECT count(*) AS n FROM s",
         "WITH s AS (SELECT DISTINCT user_id FROM events WHERE event_type = 'signup' "
         f"AND {where}) SELECT count(*) AS n FROM s"),
        ("SELECT s.user_id, count(*) AS n FROM events s JOIN events p ON s.user_id = p.user_id "
         "WHERE s.event_type = 'signup' AND p.event_type = 'purchase' GROUP BY 1 ORDER BY 1",
         "SELECT s.user_id, count(*) AS n FROM events s JOIN events p ON s.user_id = p.user_id "
         f"WHERE s.event_type = 'signup' AND p.event_type = 'purchase' AND s.{where} "
         f"AND p.{where} GROUP BY 1 ORDER BY 1"),
        ("SELECT count(*) AS n FROM (SELECT user_id FROM events WHERE user_id IS NOT NULL) t",
         f"SELECT count(*) AS n FROM (SELECT user_id FROM events WHERE user_id IS NOT NULL "
         f"AND {where}) t"),
        ("SELECT dt, count(*) AS n FROM (SELECT dt FROM events UNION ALL "
         "SELECT dt FROM events WHERE event_type = 'page') u GROUP BY 1 ORDER BY 1",
         f"SELECT dt, count(*) AS n FROM (SELECT dt FROM events WHERE {where} UNION ALL "
         f"SELECT dt FROM events WHERE event_type = 'page' AND {where}) u GROUP BY 1 "
         "ORDER BY 1"),
    ]
    for tile_sql, oracle in cases:
        got = run(restrict_dates(tile_sql, start, end), engine, policy)
        assert got == run(oracle, engine, policy), tile_sql
        assert got, tile_sql


def test_the_union_counts_both_branches_by_hand(engine: DuckDBEngine) -> None:
    # shop 10-05..10-07: 7 + 8 + 6 = 21 events, 2 of them pages (u1 10-06, anonymous 10-05).
    sql = restrict_dates("SELECT count(*) AS n FROM (SELECT event_id FROM events UNION ALL "
                         "SELECT event_id FROM events WHERE event_type = 'page') u",
                         OCT[5], OCT[7])
    assert count(sql, engine, Policy(tenant_app_id=TENANT)) == 21 + 2


def test_the_tenant_filter_still_wraps_the_restricted_table() -> None:
    out = restrict_dates("SELECT count(*) FROM events", OCT[5], OCT[6])
    checked = check(out, CATALOG, Policy(tenant_app_id=TENANT))
    assert "tenant_filter" in checked.changes
    assert f"app_id = '{TENANT}'" in checked.sql and "dt >= '2026-10-05'" in checked.sql
