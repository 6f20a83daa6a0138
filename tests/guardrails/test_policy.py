"""The policy object, warn mode, error shape and failing closed."""

from __future__ import annotations

import json
import pickle

import pydantic
import pytest

import guardrails
from causality.errors import CausalityError
from guardrails import GuardrailError, Policy, Rejected, check
from tests.guardrails._cases import CATALOG


def test_policy_defaults_and_immutability() -> None:
    policy = Policy()
    assert policy.max_rows == 10_000
    assert policy.mode == "enforce"
    assert policy.dialect is None  # no engine in particular: every engine's deny list
    assert policy.tenant_app_id is None
    assert policy.tenant_column == "app_id"
    assert policy.tenant_tables == {"events"}
    with pytest.raises(pydantic.ValidationError):
        policy.max_rows = 5  # type: ignore[misc]
    assert hash(policy) == hash(Policy())
    assert policy.for_dialect(None) is policy
    duck = policy.for_dialect("duckdb")
    assert duck == Policy(dialect="duckdb") and duck.for_dialect("duckdb") is duck
    assert policy.for_dialect("trino") == Policy(dialect="trino")


@pytest.mark.parametrize("tenant", ["", "a\nb", "a\x00b", "x" * 257])
def test_tenant_id_must_be_printable_text(tenant: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        Policy(tenant_app_id=tenant)


def test_policy_rejects_unknown_fields_and_bad_caps() -> None:
    with pytest.raises(pydantic.ValidationError):
        Policy(max_rowz=5)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        Policy(max_rows=0)
    with pytest.raises(pydantic.ValidationError):
        Policy(mode="lenient")  # type: ignore[arg-type]


def test_rejection_carries_code_facts_and_hint() -> None:
    with pytest.raises(Rejected) as info:
        check("SELECT usr_id FROM events", CATALOG, Policy())
    rejected = info.value
    assert rejected.code == "unknown_column"
    assert rejected.column == "usr_id"
    assert rejected.hint == "did you mean user_id?"
    assert (rejected.line, rejected.col) == (1, 13)
    assert rejected.to_dict() == {
        "code": "unknown_column",
        "message": "there is no column named usr_id",
        "hint": "did you mean user_id?",
        "column": "usr_id",
        "line": 1,
        "col": 13,
    }
    json.dumps(rejected.to_dict())
    assert str(rejected) == ("[unknown_column] there is no column named usr_id "
                             "(hint: did you mean user_id?)")
    assert isinstance(rejected, CausalityError)
    copy = pickle.loads(pickle.dumps(rejected))
    assert copy.to_dict() == rejected.to_dict()


def test_unknown_table_hint_and_fact() -> None:
    with pytest.raises(Rejected) as info:
        check("SELECT * FROM evnts", CATALOG, Policy())
    assert (info.value.code, info.value.table, info.value.hint) == (
        "unknown_table",
        "evnts",
        "did you mean events?",
    )


def test_forbidden_function_names_the_function() -> None:
    with pytest.raises(Rejected) as info:
        check("SELECT * FROM read_parquet('s3://x/*.parquet')", CATALOG, Policy())
    assert (info.value.code, info.value.function) == ("forbidden_function", "read_parquet")


def test_warn_mode_reports_advisory_problems_instead_of_raising() -> None:
    result = check("SELECT usr_id FROM events LIMIT ?", CATALOG, Policy(mode="warn"))
    codes = [w.partition("]")[0].removeprefix("[") for w in result.warnings]
    assert codes == ["unknown_column", "invalid_limit"]
    assert "(hint: did you mean user_id?)" in result.warnings[0]


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT 1; SELECT 2", "multiple_statements"),
        ("SELECT 'x", "parse_error"),
        ("DELETE FROM events", "not_read_only"),
        ("SELECT * FROM secrets", "unknown_table"),
        ("SELECT * FROM system.runtime.queries", "forbidden_table"),
        ("SELECT getenv('HOME')", "forbidden_function"),
        ("SELECT * FROM duckdb_views, (WITH duckdb_views AS (SELECT 1 AS x) "
         "SELECT x FROM duckdb_views) AS q", "forbidden_table"),
        ("WITH a AS (SELECT 1 AS x), a AS (SELECT 2 AS x) SELECT * FROM a", "duplicate_cte"),
    ],
)
def test_warn_mode_never_relaxes_security_rules(sql: str, code: str) -> None:
    with pytest.raises(Rejected) as info:
        check(sql, CATALOG, Policy(mode="warn", tenant_app_id="app_a"))
    assert info.value.code == code


def test_warn_mode_still_filters_the_tenant() -> None:
    result = check("SELECT nope FROM events", CATALOG, Policy(mode="warn", tenant_app_id="app_a"))
    assert "tenant_filter" in result.changes and result.warnings


def test_unexpected_failures_inside_a_rule_fail_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: object) -> None:
        raise ValueError("bug")

    monkeypatch.setattr("guardrails._check.RULES", (*guardrails.RULES[:3], broken))
    with pytest.raises(Rejected) as info:
        check("SELECT 1", CATALOG, Policy())
    assert info.value.code == "internal_error"
    assert isinstance(info.value.__cause__, ValueError)


def test_catalog_names_are_case_insensitive_and_must_be_unique() -> None:
    result = check("SELECT User_Id FROM events", {"EVENTS": {"USER_ID": "varchar"}}, Policy())
    assert result.columns == {("events", "user_id")}
    with pytest.raises(GuardrailError):
        check("SELECT 1", {"events": {"a": "varchar"}, "Events": {"a": "varchar"}}, Policy())


def test_result_facts() -> None:
    result = check(
        "SELECT e.event_type, c.name FROM events e JOIN countries c ON c.code = e.category",
        CATALOG,
        Policy(tenant_app_id="app_a", max_rows=50),
    )
    assert result.tables == {"events", "countries"}
    assert result.columns == {
        ("events", "event_type"),
        ("events", "category"),
        ("countries", "name"),
        ("countries", "code"),
    }
    assert result.changes == ("tenant_filter", "limit_injected")
    assert result.sql.endswith("LIMIT 50")
    with pytest.raises(AttributeError):
        result.sql = "DROP TABLE events"  # type: ignore[misc]
