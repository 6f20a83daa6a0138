"""Inputs too large, too deep or too odd for a fixture file: refused quickly, never crashing.

Some of these crash or hang sqlglot's compiled parser if parsed (10k nested subqueries
overflow the C stack; nested ARRAY[...] is exponential), so the refusal must happen
before parsing. The timeouts guard against a regression turning into a hang.
"""

from __future__ import annotations

import pytest

from guardrails import Policy, Rejected, check
from tests.guardrails._cases import CATALOG

pytestmark = pytest.mark.timeout(60)


def code_of(sql: str, policy: Policy | None = None) -> str:
    with pytest.raises(Rejected) as info:
        check(sql, CATALOG, policy or Policy())
    return info.value.code


def test_nul_byte() -> None:
    assert code_of("SELECT 1\x00; DROP TABLE events") == "parse_error"


def test_two_hundred_thousand_characters() -> None:
    assert code_of("SELECT 1 " + " " * 200_000) == "too_long"


def test_ten_thousand_nested_parentheses() -> None:
    assert code_of("SELECT " + "(" * 10_000 + "1" + ")" * 10_000) == "too_complex"


def test_ten_thousand_nested_subqueries() -> None:
    sql = "SELECT * FROM " + "(SELECT * FROM " * 10_000 + "events" + ") AS t" * 10_000
    assert code_of(sql, Policy(max_sql_chars=1_000_000, max_ast_nodes=1_000_000)) == "too_complex"


def test_deep_nesting_under_a_lenient_policy_still_fails_closed() -> None:
    lenient = Policy(max_sql_chars=10_000_000, max_ast_nodes=10_000_000, max_depth=100_000)
    sql = "SELECT " + "(" * 5_000 + "1" + ")" * 5_000
    assert code_of(sql, lenient) == "too_complex"


def test_many_nots_hit_the_recursion_guard() -> None:
    assert code_of("SELECT " + "NOT " * 5_000 + "true") == "too_complex"


def test_huge_token_count() -> None:
    sql = "SELECT count(*) FROM events WHERE " + " OR ".join(
        f"user_id = 'u{i}'" for i in range(20_000)
    )
    assert code_of(sql, Policy(max_sql_chars=10_000_000)) == "too_complex"


def test_long_or_chain_is_too_deep() -> None:
    sql = "SELECT count(*) FROM events WHERE " + " OR ".join(
        f"user_id = 'u{i}'" for i in range(1_000)
    )
    assert code_of(sql) == "too_complex"


def test_subscript_chain_and_nested_arrays_are_refused_before_parsing() -> None:
    assert code_of("SELECT x" + "[1]" * 800) == "too_complex"
    assert code_of("SELECT " + "ARRAY[" * 40 + "1" + "]" * 40) == "too_complex"
    assert code_of("SELECT " + "varchar(" * 40 + "1" + ")" * 40) == "too_complex"


def test_wide_but_legitimate_query_passes() -> None:
    in_list = ", ".join(f"'u{i}'" for i in range(2_000))
    result = check(f"SELECT count(*) FROM events WHERE user_id IN ({in_list})", CATALOG, Policy())
    assert result.tables == {"events"}


def test_input_that_is_not_text() -> None:
    assert code_of(b"SELECT 1") == "parse_error"  # type: ignore[arg-type]
