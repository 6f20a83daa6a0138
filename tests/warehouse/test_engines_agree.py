"""The benign guardrails corpus gives the same results on DuckDB and on Trino 476."""

import math
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow.compute as pc
import pytest

from guardrails import Policy, check
from tests.fixtures.trino import TrinoHandle
from tests.guardrails._cases import load
from warehouse.demo import generate, write
from warehouse.engines.duckdb_engine import DuckDBEngine
from warehouse.engines.trino_engine import TrinoEngine
from warehouse.schema import TRINO_TYPES

pytestmark = pytest.mark.trino

TENANT = "bn-shop"
BENIGN = [c for c in load("benign.sql") if c.expect == "pass"]
APPROX = ("approx_distinct", "approx_percentile", "approx_most_frequent")


@pytest.fixture(scope="module")
def engines(trino_server: TrinoHandle) -> Iterator[tuple[DuckDBEngine, TrinoEngine]]:
    table = generate(30_000, seed=5, end=date(2026, 11, 8))
    table = table.filter(pc.field("dt") >= "2026-11-04")  # few files: each costs Trino a split
    apps = pc.binary_join_element_wise("bn-", table["app_id"], "")
    write(table.set_column(table.schema.get_field_index("app_id"), "app_id", apps),
          trino_server.warehouse, basename="benign")
    trino_server.register()
    duck = DuckDBEngine(trino_server.warehouse)
    yield duck, TrinoEngine(trino_server.host, trino_server.port)
    duck.close()


def _norm(value: Any, tolerance: float) -> Any:
    if isinstance(value, Decimal):
        value = int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6) if tolerance == 0 else value
    if isinstance(value, list):
        return tuple(_norm(v, tolerance) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _norm(v, tolerance)) for k, v in value.items()))
    return value


def _close(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        # Approximate counts of a handful of values may be off by one or two (HLL).
        return math.isclose(a, b, rel_tol=max(tolerance, 1e-9),
                            abs_tol=2.0 if tolerance else 1e-9)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_close(x, y, tolerance) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _key(row: tuple[Any, ...]) -> str:
    """Order rows by their non-numeric values first (approximate numbers may differ)."""
    labels = [v for v in row if not isinstance(v, (int, float))]
    return repr((labels, row))


@pytest.mark.parametrize("case", BENIGN, ids=lambda c: c.title)
def test_same_results_on_both_engines(engines: tuple[DuckDBEngine, TrinoEngine], case: Any) -> None:
    duck, trino = engines
    checked = check(case.sql, {"events": TRINO_TYPES}, Policy(tenant_app_id=TENANT, max_rows=500))
    tolerance = 0.05 if any(f in case.sql.lower() for f in APPROX) else 0.0
    left = duck.run(checked.sql, 500, 120).table.to_pylist()
    right = trino.run(checked.sql, 500, 120).table.to_pylist()
    rows_l = sorted((tuple(_norm(v, tolerance) for v in r.values()) for r in left), key=_key)
    rows_r = sorted((tuple(_norm(v, tolerance) for v in r.values()) for r in right), key=_key)
    assert len(rows_l) == len(rows_r)
    assert all(_close(a, b, tolerance) for a, b in zip(rows_l, rows_r, strict=True)), (
        f"{case.title}:\nduckdb {rows_l[:5]}\ntrino  {rows_r[:5]}")
