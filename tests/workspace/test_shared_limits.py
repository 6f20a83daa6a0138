"""Limits every workspace process shares through the metadata store: the sliding windows
themselves (with a hand-driven clock), and the per-person query rate limit held across two
processes on one SQLite file."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine as SqlEngine

from causality.settings import load_settings
from guardrails import Policy, Rejected
from metadata import open_db
from metadata._db import rate_windows
from metadata.errors import MetadataError
from metadata.ratelimit import SharedRateLimiter, SlidingWindows
from metadata.users import User
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.filters import Filters
from workspace.service import Workspace

PER_MINUTE = Policy().queries_per_minute  # what Workspace.policy uses
QUERIES_EACH = 70  # two processes ask for 140 within a minute
COUNT_SQL = "SELECT count(*) AS n FROM events"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def windows(db: SqlEngine, clock: Clock) -> SlidingWindows:
    return SlidingWindows(db, clock=clock)


def test_a_window_admits_its_limit_then_says_how_long_to_wait(windows: SlidingWindows,
                                                              clock: Clock) -> None:
    for n in range(1, 4):
        assert windows.take("k", 3, 60.0).hits == n
        clock.now += 10
    refused = windows.take("k", 3, 60.0)  # hits at 0, 10, 20; now 30
    assert (refused.taken, refused.hits, refused.wait_s) == (False, 3, 30.0)
    clock.now += 29.5
    assert not windows.take("k", 3, 60.0).taken  # a refused attempt is not counted
    clock.now += 0.5  # the first hit has left the window
    assert windows.take("k", 3, 60.0).taken
    assert windows.take("other", 3, 60.0).hits == 1  # keys are counted apart


def test_give_back_and_clear(windows: SlidingWindows) -> None:
    for _ in range(3):
        windows.take("k", 3, 60.0)
    windows.give_back("k")
    assert windows.take("k", 3, 60.0).taken
    assert not windows.take("k", 3, 60.0).taken
    windows.clear("k")
    assert windows.take("k", 3, 60.0).hits == 1
    windows.give_back("never-seen")
    windows.clear("never-seen")


def test_expired_keys_leave_the_table(windows: SlidingWindows, db: SqlEngine,
                                      clock: Clock) -> None:
    for name in ("a", "b", "c"):
        windows.take(name, 5, 60.0)
    clock.now += 61
    windows.take("d", 5, 60.0)  # a new key sweeps out the ones no longer counting
    with db.connect() as conn:
        assert [r.key for r in conn.execute(sa.select(rate_windows.c.key))] == ["d"]


def test_two_stores_on_one_file_share_the_window(tmp_path: Path, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = SlidingWindows(open_db(url), clock), SlidingWindows(open_db(url), clock)
    assert first.take("k", 2, 60.0).taken and second.take("k", 2, 60.0).taken
    assert not first.take("k", 2, 60.0).taken and not second.take("k", 2, 60.0).taken


def test_the_limiter_refuses_with_a_hint_and_fails_closed(windows: SlidingWindows,
                                                          db: SqlEngine) -> None:
    limiter = SharedRateLimiter(windows)
    limiter.admit("ann", None)  # no limit: nothing counted
    limiter.admit("ann", 2)
    limiter.admit("ann", 2)
    with pytest.raises(Rejected) as refused:
        limiter.admit("ann", 2)
    assert refused.value.code == "rate_limited"
    assert "ann ran 2 queries in the last minute" in refused.value.message
    assert "wait 60 s; the limit is 2 per minute" in refused.value.hint
    limiter.admit("bob", 2)
    rate_windows.drop(db)
    with pytest.raises(Rejected) as broken:
        limiter.admit("bob", 2)
    assert broken.value.code == "rate_limit_unavailable"
    with pytest.raises(MetadataError):
        windows.take("k", 1, 60.0)


def test_the_workspace_counts_its_queries_in_the_store(engine: DuckDBEngine, db: SqlEngine,
                                                      tmp_path: Path) -> None:
    """Another process's queries (here: hits put straight into the store) count too."""
    ws = Workspace(load_settings(data_dir=tmp_path), engine=engine, db=db)
    ann = User("ann", "analyst", None, None, datetime.now(UTC))
    ws.run_sql(COUNT_SQL, user=ann)
    others = SlidingWindows(db)
    while others.take("query:ann", PER_MINUTE, 60.0).taken:
        pass
    with pytest.raises(Rejected) as refused:
        ws.run_sql(COUNT_SQL, user=ann)
    assert refused.value.code == "rate_limited"
    tile = ws.dashboards.add_tile(ws.dashboards.create("B", owner="ann").dashboard_id,
                                  title="n", sql=COUNT_SQL, created_by="ann")
    result = ws.run_tile(tile, Filters(), tenant=None, actor="ann")
    assert result.error is not None and result.error["code"] == "rate_limited"


def _run_queries(url: str, warehouse: str, start: Barrier, results: Any) -> None:
    """One workspace process: QUERIES_EACH queries by ann as fast as it can."""
    engine = DuckDBEngine(warehouse, memory_limit="512MB", threads=1)
    ws = Workspace(load_settings(data_dir=Path(url.removeprefix("sqlite:///")).parent,
                                 metadata_url=url), engine=engine)
    ann = User("ann", "analyst", None, None, datetime.now(UTC))
    ws.run_sql(COUNT_SQL, user=User("warm-up", "analyst", None, None, datetime.now(UTC)))
    start.wait()
    ran, refused = 0, []
    for _ in range(QUERIES_EACH):
        try:
            ws.run_sql(COUNT_SQL, user=ann)
        except Rejected as err:
            refused.append(err.code)
        else:
            ran += 1
    engine.close()
    results.put((ran, refused))


def test_the_query_limit_holds_across_two_processes(fixture_warehouse: Path,
                                                    tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    open_db(url).dispose()
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_run_queries, args=(url, str(fixture_warehouse), start,
                                                      results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=240) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(ran for ran, _ in outcomes) == PER_MINUTE
    refused = [code for _, codes in outcomes for code in codes]
    assert refused == ["rate_limited"] * (2 * QUERIES_EACH - PER_MINUTE)
