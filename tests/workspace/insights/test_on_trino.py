"""The compiled insight SQL is real Trino: the same hand-worked numbers on Trino 476 as on
DuckDB (tests/workspace/insights/test_numbers.py explains each number)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from guardrails import Policy
from guardrails.execute import RateLimiter, execute
from tests.fixtures.trino import TrinoHandle
from tests.workspace.events_fixture import table
from warehouse.demo import write
from warehouse.engines.trino_engine import TrinoEngine
from workspace.insights import (
    Breakdown,
    DateRange,
    Funnel,
    FunnelStep,
    Retention,
    Stickiness,
    TopEvents,
    Trend,
    compile_insight,
)

pytestmark = pytest.mark.trino

PREFIX = "ins-"
TENANT = f"{PREFIX}shop"
TODAY = date(2026, 10, 26)
RANGE = DateRange(start=date(2026, 10, 5), end=date(2026, 10, 7))
D5, D6, D7 = (datetime(2026, 10, d) for d in (5, 6, 7))
STEPS = [FunnelStep(event="signup"), FunnelStep(event="activation"),
         FunnelStep(event="purchase")]


@pytest.fixture(scope="module")
def trino(trino_server: TrinoHandle) -> Iterator[TrinoEngine]:
    """The hand-built rows under app ids prefixed ``ins-``, and an engine over them."""
    rows = table()
    apps = pc.binary_join_element_wise(PREFIX, rows["app_id"], "")
    write(rows.set_column(rows.schema.get_field_index("app_id"), "app_id", apps),
          trino_server.warehouse, basename="insights")
    trino_server.register()
    engine = TrinoEngine(trino_server.host, trino_server.port)
    yield engine
    engine.close()


def run(insight: Any, engine: TrinoEngine) -> list[dict[str, Any]]:
    policy = Policy(dialect="trino", tenant_app_id=TENANT, queries_per_minute=None)
    result = execute(compile_insight(insight, TODAY), engine=engine, policy=policy,
                     actor="test", source="sql", limiter=RateLimiter())
    return _plain(result.table)


def _plain(t: pa.Table) -> list[dict[str, Any]]:
    out = []
    for row in t.to_pylist():
        out.append({k: v.replace(tzinfo=None) if isinstance(v, datetime) else v
                    for k, v in row.items()})
    return out


def pairs(rows: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in keys) for r in rows]


def test_trend_with_breakdown_and_sum(trino: TrinoEngine) -> None:
    rows = run(Trend(date_range=RANGE,
                     breakdown=Breakdown(field="properties.country", limit=1)), trino)
    assert pairs(rows, "period", "breakdown", "value") == [
        (D5, "US", 4), (D5, "other", 3), (D6, "US", 3), (D6, "other", 5), (D7, "US", 6)]
    rows = run(Trend(date_range=RANGE, event="purchase", measure="sum", property="revenue"),
               trino)
    assert pairs(rows, "period", "value") == [(D5, 30.0), (D6, 50.0), (D7, 40.0)]


def test_funnel(trino: TrinoEngine) -> None:
    rows = run(Funnel(steps=STEPS, window=1, date_range=RANGE), trino)
    assert pairs(rows, "step", "users", "median_seconds_to_convert") == [
        (1, 5, None), (2, 3, 3600.0), (3, 2, 5400.0)]
    assert [r["conversion_from_previous"] for r in rows] == pytest.approx([1.0, 0.6, 2 / 3])
    rows = run(Funnel(steps=STEPS, window=1, date_range=RANGE,
                      breakdown=Breakdown(field="properties.device", limit=2)), trino)
    assert pairs(rows, "breakdown", "step", "users") == [
        ("ios", 1, 2), ("ios", 2, 1), ("ios", 3, 1), ("other", 1, 1), ("other", 2, 1),
        ("other", 3, 0), ("web", 1, 2), ("web", 2, 1), ("web", 3, 1)]


def test_retention_top_events_stickiness(trino: TrinoEngine) -> None:
    rows = run(Retention(start_event="signup", periods=2, date_range=DateRange(
        start=date(2026, 10, 5), end=date(2026, 10, 25))), trino)
    assert pairs(rows, "cohort", "period", "cohort_size", "users") == [
        (D5, 0, 5, 5), (D5, 1, 5, 3), (D5, 2, 5, 2),
        (datetime(2026, 10, 12), 0, 1, 1), (datetime(2026, 10, 12), 1, 1, 1)]
    rows = run(TopEvents(date_range=RANGE), trino)
    assert pairs(rows, "event_type", "events", "users") == [
        ("activation", 7, 7), ("signup", 7, 5), ("purchase", 5, 4), ("page", 2, 1)]
    rows = run(Stickiness(date_range=DateRange(start=date(2026, 10, 5),
                                               end=date(2026, 10, 18))), trino)
    assert pairs(rows, "days_active", "users") == [(1, 3), (2, 3), (3, 2)]
