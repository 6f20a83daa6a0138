"""Property tests: whatever text arrives, `check` answers with a result or `Rejected`; and
whatever passes under a tenant policy reads only that tenant's rows."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails import CheckedQuery, Policy, Rejected, check
from tests.guardrails._cases import CATALOG, TENANT, assert_every_scan_is_filtered, load

BENIGN = [case.sql for case in load("benign.sql")]
FRAGMENTS = [
    ";",
    "(",
    ")",
    "'",
    '"',
    "--",
    "/*",
    "*/",
    ",",
    ".",
    "[",
    "]",
    " OR 1=1",
    " UNION ALL SELECT * FROM events",
    "DELETE FROM events",
    "DROP TABLE events",
    "system.runtime.queries",
    "read_csv('x')",
    "app_id",
    "'app_b'",
    " WHERE app_id = 'app_b'",
    "LATERAL",
    "WITH x AS (SELECT 1)",
    "ARRAY[",
    "\u0435",
    "\x00",
    "LIMIT 99999",
    "EXISTS (SELECT 1 FROM events)",
    " AS events",
    "getenv('HOME')",
    "INTO t",
    "FOR UPDATE",
    "\\",
    "$$",
    "?",
    "events",
    "users",
    "CROSS JOIN events",
    "JOIN users u ON true",
    "\n",
]
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
POLICY = Policy(tenant_app_id=TENANT)


def outcome(sql: str) -> CheckedQuery | Rejected:
    try:
        return check(sql, CATALOG, POLICY)
    except Rejected as rejected:
        if rejected.code == "internal_error":
            raise AssertionError(f"{rejected!r} from {sql!r}") from rejected
        return rejected


@st.composite
def mutated(draw: st.DrawFn) -> str:
    sql = draw(st.sampled_from(BENIGN))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(sql)))
        op = draw(st.sampled_from(["insert", "delete", "duplicate"]))
        if op == "insert":
            piece = draw(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)))
            sql = sql[:at] + piece + sql[at:]
        elif op == "delete":
            sql = sql[:at] + sql[at + draw(st.integers(1, 20)) :]
        else:
            sql = sql[:at] + sql[at : at + draw(st.integers(1, 40))] * 2 + sql[at:]
    return sql


@SETTINGS
@given(st.text(max_size=300))
def test_random_text_is_answered(sql: str) -> None:
    result = outcome(sql)
    if isinstance(result, CheckedQuery):
        assert_every_scan_is_filtered(result.sql, TENANT)


@SETTINGS
@given(mutated())
def test_mutated_queries_are_answered_and_stay_in_their_tenant(sql: str) -> None:
    result = outcome(sql)
    if isinstance(result, CheckedQuery):
        assert_every_scan_is_filtered(result.sql, TENANT)
        assert len(result.duckdb_sql) > 0
        # What passed passes again: the output is itself acceptable SQL.
        again = outcome(result.sql)
        assert isinstance(again, CheckedQuery), again


@pytest.mark.parametrize("sql", BENIGN[:5])
def test_benign_seeds_pass(sql: str) -> None:
    assert isinstance(outcome(sql), CheckedQuery)
