"""The cost check multiplies through cross and non-equi joins, and an unknown factor makes
the estimate unknown, which the policy's ``unknown_estimate`` decides."""

from __future__ import annotations

import pytest

from guardrails import Policy, Rejected
from guardrails.execute import RateLimiter, execute
from tests.guardrails._hostile import demo_warehouse
from warehouse.engines.duckdb_engine import DuckDBEngine

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> DuckDBEngine:
    e = DuckDBEngine(demo_warehouse(tmp_path_factory.mktemp("wh"), 5_000), memory_limit="512MB")
    yield e
    e.close()


def run(sql: str, engine: DuckDBEngine, **policy: object):  # type: ignore[no-untyped-def]
    return execute(sql, engine=engine, policy=Policy(queries_per_minute=None, **policy),
                   actor="cost", source="sql", limiter=RateLimiter())


def scan(engine: DuckDBEngine) -> int:
    rows = engine.explain("select * from events").rows
    assert rows is not None
    return rows


def test_a_three_way_cross_join_is_refused_by_its_product(engine: DuckDBEngine) -> None:
    n, cap = scan(engine), scan(engine) * 100
    for sql in ("select count(*) as c from events a, events b, events c",
                "select count(*) as c from events a cross join events b cross join events c"):
        with pytest.raises(Rejected) as err:
            run(sql, engine, max_scan_rows=cap)
        assert err.value.code == "too_expensive"
        assert f"{n ** 3:,}" in err.value.message
        assert f"{cap:,}" in err.value.message
        assert "join" in err.value.hint


def test_a_non_equi_join_is_refused_but_a_join_on_a_key_runs(engine: DuckDBEngine) -> None:
    n = scan(engine)
    with pytest.raises(Rejected) as err:
        run("select count(*) as c from events a join events b on a.event_time < b.event_time",
            engine, max_scan_rows=n * 10)
    assert err.value.code == "too_expensive"
    assert f"{n * n:,}" in err.value.message
    done = run("select count(*) as c from events a join events b on a.event_id = b.event_id",
               engine, max_scan_rows=n * 10)
    assert done.table["c"][0].as_py() >= n // 2


def test_a_product_with_an_unknown_input_follows_the_policy(engine: DuckDBEngine) -> None:
    sql = ("select count(*) as c from events cross join unnest(sequence(1, 100)) as t(x)")
    with pytest.raises(Rejected) as err:
        run(sql, engine, unknown_estimate="reject")
    assert err.value.code == "unknown_cost"
    strict = run(sql, engine, unknown_estimate="strict", strict_timeout_s=30)
    assert "unknown_estimate" in strict.flags
    events = run("select count(*) as c from events", engine).table["c"][0].as_py()
    assert strict.table["c"][0].as_py() == 100 * events
