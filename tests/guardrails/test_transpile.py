"""Trino functions analysts use transpile to DuckDB SQL that runs and gives the same answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import duckdb
import pytest

from guardrails import Policy, check
from tests.guardrails._cases import CATALOG

ROWS = [
    (
        "e1",
        "purchase",
        "u1",
        "2026-11-02 10:15:00",
        '{"country": "DE", "amount": "12.5", "items": [1, 2]}',
    ),
    ("e2", "page", "u2", "2026-11-02 15:45:00", '{"country": "FR"}'),
    (
        "e3",
        "purchase",
        "u1",
        "2026-11-03 08:00:00",
        '{"country": "DE", "amount": "7.5", "items": [3]}',
    ),
]


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(":memory:")
    con.execute(
        "CREATE TABLE events (event_id VARCHAR, event_type VARCHAR, category VARCHAR, "
        "user_id VARCHAR, anonymous_id VARCHAR, session_id VARCHAR, event_time TIMESTAMP, "
        "received_at TIMESTAMP, properties VARCHAR, context VARCHAR, app_id VARCHAR, "
        "dt VARCHAR, hour VARCHAR)"
    )
    for event_id, event_type, user, time, props in ROWS:
        con.execute(
            "INSERT INTO events VALUES (?, ?, 'track', ?, NULL, 's1', ?, ?, ?, '{}', 'a', "
            "substr(?, 1, 10), substr(?, 12, 2))",
            [event_id, event_type, user, time, time, props, time, time],
        )
    yield con
    con.close()


CASES = [
    ("SELECT json_extract_scalar(properties, '$.country') FROM events WHERE event_id = 'e1'", "DE"),
    ("SELECT sum(CAST(json_extract_scalar(properties, '$.amount') AS double)) FROM events", 20.0),
    (
        "SELECT json_array_length(json_extract(properties, '$.items')) FROM events "
        "WHERE event_id = 'e1'",
        2,
    ),
    (
        "SELECT date_trunc('day', event_time) FROM events WHERE event_id = 'e2'",
        dt.datetime(2026, 11, 2),
    ),
    (
        "SELECT date_trunc('week', event_time) FROM events WHERE event_id = 'e2'",
        dt.datetime(2026, 11, 2),
    ),
    ("SELECT approx_distinct(user_id) FROM events", 2),
    ("SELECT count_if(event_type = 'purchase') FROM events", 2),
    ("SELECT count(*) FILTER (WHERE event_type = 'page') FROM events", 1),
    (
        "SELECT from_iso8601_timestamp('2026-11-02T10:00:00Z')",
        dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC),
    ),
    # Trino counts whole units elapsed (21 h 45 min -> 21), not boundaries crossed (22).
    ("SELECT date_diff('hour', min(event_time), max(event_time)) FROM events", 21),
    (
        "SELECT date_diff('day', TIMESTAMP '2026-11-02 23:00:00', TIMESTAMP '2026-11-03 01:00:00')",
        0,
    ),
    (
        "SELECT date_diff('minute', TIMESTAMP '2026-11-02 10:00:59', "
        "TIMESTAMP '2026-11-02 10:01:00')",
        0,
    ),
    (
        "SELECT date_diff('second', TIMESTAMP '2026-11-02 10:00:01', "
        "TIMESTAMP '2026-11-02 10:00:00')",
        -1,
    ),
    ("SELECT date_diff('day', DATE '2026-11-01', DATE '2026-11-08')", 7),
    (
        "SELECT date_add('day', 3, event_time) FROM events WHERE event_id = 'e1'",
        dt.datetime(2026, 11, 5, 10, 15),
    ),
    ("SELECT date_format(event_time, '%Y-%m') FROM events WHERE event_id = 'e1'", "2026-11"),
    ("SELECT sum(x) FROM UNNEST(ARRAY[1, 2, 3]) AS t(x)", 6),
    ("SELECT count(*) FROM events CROSS JOIN UNNEST(sequence(1, 4)) AS t(i)", 12),
    ("SELECT approx_percentile(x, 0.5) FROM UNNEST(ARRAY[1, 2, 3]) AS t(x)", 2),
    ("SELECT max_by(event_type, event_time) FROM events", "purchase"),
    ("SELECT regexp_like(event_type, '^pur') FROM events WHERE event_id = 'e1'", True),
    ("SELECT element_at(split('a/b/c', '/'), 2)", "b"),
    ("SELECT cardinality(array_agg(DISTINCT user_id)) FROM events", 2),
    ("SELECT to_unixtime(TIMESTAMP '1970-01-02 00:00:00')", 86400.0),
]


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[sql for sql, _ in CASES])
def test_trino_function_runs_on_duckdb(
    con: duckdb.DuckDBPyConnection, sql: str, expected: object
) -> None:
    result = check(sql, CATALOG, Policy(tenant_app_id="a"))
    ((value,),) = con.execute(result.duckdb_sql).fetchall()
    assert value == expected, result.duckdb_sql


def test_integer_division_needs_the_duckdb_connection_setting(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Trino's 5 / 2 is 2. DuckDB agrees only with `integer_division` on: engines must set it."""
    result = check("SELECT 5 / 2, 5.0 / 2, count(*) / 2 FROM events", CATALOG, Policy())
    cursor = con.cursor()
    cursor.execute("SET integer_division = true")
    assert cursor.execute(result.duckdb_sql).fetchall() == [(2, 2.5, 1)]
