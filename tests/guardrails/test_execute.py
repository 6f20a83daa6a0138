"""`execute`: the whole path on a real DuckDB engine, with the audit log in SQLite."""

from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest
from click.testing import CliRunner

from causality.cli import main
from guardrails import Policy, Rejected
from guardrails.execute import RateLimiter, execute
from metadata import open_db
from metadata.audit import AuditLog
from warehouse.demo import generate, write
from warehouse.engines import Estimate, QueryTimeout
from warehouse.engines.duckdb_engine import DuckDBEngine


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wh")
    write(generate(30_000, seed=3, end=date(2026, 11, 1)).filter(pc.field("dt") >= "2026-10-30"),
          root)
    return root


@pytest.fixture
def engine(wh: Path) -> DuckDBEngine:
    e = DuckDBEngine(wh)
    yield e
    e.close()


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(open_db(f"sqlite:///{tmp_path}/meta.db"))


def run(sql: str, engine: DuckDBEngine, audit: AuditLog, **policy: object):  # type: ignore[no-untyped-def]
    return execute(sql, engine=engine, policy=Policy(**policy), actor="ana", source="sql",
                   audit=audit, limiter=RateLimiter())


def test_ok_query_is_tenant_filtered_limited_and_audited(engine: DuckDBEngine,
                                                         audit: AuditLog) -> None:
    done = run("select app_id, count(*) as n from events group by 1", engine, audit,
               tenant_app_id="news", max_rows=50)
    assert done.table["app_id"].to_pylist() == ["news"]
    assert "tenant_filter" in done.checked.changes
    assert done.estimate.known
    (rec,) = audit.tail(1)
    assert rec["audit_id"] == done.audit_id
    assert rec["verdict"] == "ok"
    assert rec["actor"] == "ana"
    assert rec["rows"] == 1
    assert "app_id = 'news'" in rec["sql_run"]


def test_rejection_is_audited_and_never_runs(engine: DuckDBEngine, audit: AuditLog) -> None:
    with pytest.raises(Rejected) as err:
        run("select 1; drop table events", engine, audit)
    assert err.value.code == "multiple_statements"
    (rec,) = audit.tail(1)
    assert (rec["verdict"], rec["code"], rec["sql_run"]) == ("rejected", "multiple_statements",
                                                             None)


def test_the_check_is_for_the_engines_dialect_whatever_the_policy_says(
        engine: DuckDBEngine, audit: AuditLog) -> None:
    # getvariable is denied on DuckDB only: a policy for Trino must not let it through.
    with pytest.raises(Rejected) as err:
        run("select getvariable('x') as v", engine, audit, dialect="trino")
    assert err.value.code == "forbidden_function"
    assert run("select 1 as x", engine, audit, dialect="trino").table.num_rows == 1


def test_cost_cap_rejects_before_running(engine: DuckDBEngine, audit: AuditLog) -> None:
    with pytest.raises(Rejected) as err:
        run("select * from events", engine, audit, max_scan_bytes=10)
    assert err.value.code == "too_expensive"
    assert "dt" in (err.value.hint or "")


def test_unknown_estimate_runs_strictly_or_is_rejected(engine: DuckDBEngine,
                                                       audit: AuditLog,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "explain", lambda sql: Estimate())
    done = run("select event_id from events", engine, audit, strict_max_rows=7)
    assert done.table.num_rows == 7
    assert "unknown_estimate" in done.flags
    assert "truncated" in done.flags
    with pytest.raises(Rejected) as err:
        run("select event_id from events", engine, audit, unknown_estimate="reject")
    assert err.value.code == "unknown_cost"


def test_engine_errors_are_audited(engine: DuckDBEngine, audit: AuditLog) -> None:
    # ~10^13 joined rows: no engine finishes this in 0.2 s.
    slow = "select count(*) as n from events a, events b, events c, events d"
    with pytest.raises(QueryTimeout):
        run(slow, engine, audit, timeout_s=0.2, max_scan_rows=None, max_scan_bytes=None)
    (rec,) = audit.tail(1)
    assert (rec["verdict"], rec["code"]) == ("error", "query_timeout")


def test_sanity_flags(engine: DuckDBEngine, audit: AuditLog) -> None:
    assert "empty_result" in run("select * from events where 1 = 0", engine, audit).flags
    huge = run("select 1e18 as x", engine, audit)
    assert "absurd_magnitude" in huge.flags


def test_per_user_rate_limit(engine: DuckDBEngine, audit: AuditLog) -> None:
    limiter = RateLimiter()
    for _ in range(3):
        execute("select 1 as x", engine=engine, policy=Policy(queries_per_minute=3),
                actor="bob", source="sql", audit=audit, limiter=limiter)
    with pytest.raises(Rejected) as err:
        execute("select 1 as x", engine=engine, policy=Policy(queries_per_minute=3),
                actor="bob", source="sql", audit=audit, limiter=limiter)
    assert err.value.code == "rate_limited"
    execute("select 1 as x", engine=engine, policy=Policy(queries_per_minute=3), actor="eve",
            source="sql", audit=audit, limiter=limiter)


def test_cli_sql_and_audit_tail(wh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAUSALITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CAUSALITY_STORAGE_WAREHOUSE", str(wh))
    ok = CliRunner().invoke(main, ["sql", "select app_id, count(*) as n from events group by 1",
                                   "--app", "shop"])
    assert ok.exit_code == 0, ok.output
    assert "shop" in ok.output and "audit id 1" in ok.output
    bad = CliRunner().invoke(main, ["sql", "select usr_id from events"])
    assert bad.exit_code == 2
    assert "unknown_column" in bad.output and "user_id" in bad.output
    assert "Traceback" not in bad.output
    tail = CliRunner().invoke(main, ["audit", "tail", "-n", "5"])
    assert tail.exit_code == 0
    assert "#1" in tail.output and "rejected:unknown_column" in tail.output
