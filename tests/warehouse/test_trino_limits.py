"""Trino's share of the guardrails: resource groups by query source, and limits every query
carries (run time including the queue, memory, linear-time regular expressions).

Queries are found in ``system.runtime.queries`` (read as admin) by the name of their one column,
unique per test; "no sleeps as synchronisation": every wait polls the server with a deadline.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import pyarrow.compute as pc
import pytest

from guardrails import Policy
from guardrails.execute import RateLimiter, Source, execute
from tests.fixtures.trino import TrinoHandle
from tests.warehouse._slow import TRINO_SLOW, start_trino_query
from warehouse.demo import generate, write
from warehouse.engines import EngineError, QueryCancelled, QueryTimeout
from warehouse.engines.trino_engine import TrinoEngine

pytestmark = pytest.mark.trino

POLL_S = 0.1
STOP_WAIT_S = 60.0
#: ``(a+)+$`` against ``a…ab`` backtracks 2^40 times in a backtracking engine (JONI).
REDOS = "regexp_like(lpad({text}, 41, 'a'), '(a+)+$')"


@dataclass(frozen=True)
class Seen:
    """One of a test's queries as Trino reports it."""

    query_id: str
    state: str
    source: str
    group: list[str] | None
    error_code: str | None


@pytest.fixture(scope="module")
def trino(trino_server: TrinoHandle) -> TrinoHandle:
    trino_server.register()  # an events table, for the guardrails' catalog
    return trino_server


def tag(kind: str) -> str:
    return f"{kind}_{uuid.uuid4().hex[:10]}"


def seen(trino: TrinoHandle, name: str) -> list[Seen]:
    """Our runs (client source ``causality…``, estimates left out) whose text names ``name``,
    oldest first."""
    rows = trino.query(
        "SELECT query_id, state, source, resource_group_id, error_code "
        "FROM system.runtime.queries WHERE source LIKE 'causality%' "
        f"AND strpos(query, '{name}') > 0 AND NOT starts_with(query, 'EXPLAIN') ORDER BY created")
    return [Seen(*row) for row in rows]


def wait_for(trino: TrinoHandle, name: str, done: Callable[[list[Seen]], bool],
             within_s: float) -> list[Seen]:
    deadline = time.monotonic() + within_s
    while True:
        found = seen(trino, name)
        if done(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}: still {found} after {within_s:g} s")
        time.sleep(POLL_S)  # a poll interval; the deadline above bounds the wait


def stop(engine: TrinoEngine, threads: list[threading.Thread]) -> None:
    """Cancel ``engine``'s queries until its threads are done."""
    deadline = time.monotonic() + STOP_WAIT_S
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        engine.cancel()
        for t in threads:
            t.join(POLL_S)
    assert not any(t.is_alive() for t in threads)


def guarded(trino: TrinoHandle, sql: str, source: Source, timeout_s: float = 60.0,
            engine: TrinoEngine | None = None) -> tuple[list[dict[str, object]], str | None]:
    """``sql`` through the guardrails on Trino: its rows and query id."""
    engine = engine or TrinoEngine(trino.host, trino.port)
    policy = Policy(dialect="trino", timeout_s=timeout_s, strict_timeout_s=timeout_s,
                    queries_per_minute=None)
    done = execute(sql, engine=engine, policy=policy, actor="test", source=source,
                   limiter=RateLimiter())
    return done.table.to_pylist(), done.result.query_id


@pytest.fixture
def sql_group_full(trino: TrinoHandle) -> Iterator[None]:
    """Two slow queries from ``sql`` hold both of its group's slots until the test ends."""
    engine = TrinoEngine(trino.host, trino.port)
    name = tag("busy")
    threads = [start_trino_query(engine, TRINO_SLOW.format(name=name), "sql", 120)[0]
               for _ in range(2)]
    try:
        running = wait_for(trino, name, lambda qs: [q.state for q in qs] == ["RUNNING"] * 2, 60)
        assert all(q.group == ["causality", "adhoc", "sql"] for q in running)
        yield
    finally:
        stop(engine, threads)


# --------------------------------------------------------------------------- resource groups


@pytest.mark.parametrize(("source", "group"), [
    ("dashboard", ["causality", "dashboard"]),
    ("embed", ["causality", "embed"]),
    ("chat", ["causality", "adhoc", "chat"]),
    ("sql", ["causality", "adhoc", "sql"]),
    ("notebook", ["causality", "adhoc", "notebook"]),
])
def test_a_guarded_query_runs_in_the_resource_group_of_its_source(
    trino: TrinoHandle, source: Source, group: list[str]
) -> None:
    name = tag(source)
    rows, query_id = guarded(trino, f"SELECT count(*) AS {name} FROM events", source)
    assert rows == [{name: rows[0][name]}]
    [query] = seen(trino, name)
    assert query.query_id == query_id
    assert (query.source, query.group, query.state) == (f"causality-{source}", group, "FINISHED")


def test_the_engines_own_reads_run_in_the_internal_group(trino: TrinoHandle) -> None:
    name = tag("internal")
    TrinoEngine(trino.host, trino.port).run(f"SELECT 1 AS {name}", 1, 30)
    [query] = seen(trino, name)
    assert (query.source, query.group) == ("causality", ["causality", "internal"])


@pytest.mark.usefixtures("sql_group_full")
def test_a_full_sql_group_queues_the_next_sql_query_while_a_dashboard_query_runs(
    trino: TrinoHandle,
) -> None:
    extra_engine, name = TrinoEngine(trino.host, trino.port), tag("extra")
    thread, failure = start_trino_query(extra_engine, f"SELECT 1 AS {name}", "sql", 60)
    try:
        wait_for(trino, name, lambda qs: [q.state for q in qs] == ["QUEUED"], 30)
        board = tag("board")
        rows, _ = guarded(trino, f"SELECT count(*) AS {board} FROM events", "dashboard", 30)
        assert len(rows) == 1
        [dashboard] = seen(trino, board)
        assert (dashboard.group, dashboard.state) == (["causality", "dashboard"], "FINISHED")
        [extra] = seen(trino, name)
        assert (extra.group, extra.state) == (["causality", "adhoc", "sql"], "QUEUED")
    finally:
        stop(extra_engine, [thread])
    assert isinstance(failure[0], QueryCancelled)


# --------------------------------------------------------------------------- time


@pytest.mark.parametrize(("source", "state"), [("dashboard", "running"), ("sql", "queued")])
def test_a_guarded_query_stops_within_a_second_of_its_timeout(
    trino: TrinoHandle, request: pytest.FixtureRequest, source: Source, state: str
) -> None:
    if state == "queued":
        request.getfixturevalue("sql_group_full")
    name, timeout_s = tag(state), 2.0
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        guarded(trino, TRINO_SLOW.format(name=name), source, timeout_s)
    assert time.monotonic() - started < timeout_s + 1.0
    # The client's cancel reached Trino before Trino's own limit (timeout + 1 s) would have.
    [query] = wait_for(trino, name, lambda qs: [q.state for q in qs] == ["FAILED"], 10)
    assert query.error_code == "USER_CANCELED"


@pytest.mark.usefixtures("sql_group_full")
def test_trino_stops_a_queued_query_whose_client_went_away(trino: TrinoHandle) -> None:
    engine, name, timeout_s = TrinoEngine(trino.host, trino.port), tag("gone"), 2.0
    conn = engine._connect(timeout_s, "sql")
    request = conn._create_request()
    posted = time.monotonic()
    status = request.process(request.post(TRINO_SLOW.format(name=name)))
    request.process(request.get(status.next_uri))  # Trino queues a query once asked about it
    conn.close()  # and the client never asks again
    [queued] = seen(trino, name)
    assert queued.state == "QUEUED"
    # Trino's run-time limit counts the queue: timeout + 1 s, enforced once a second.
    [query] = wait_for(trino, name, lambda qs: [q.state for q in qs] == ["FAILED"], 10)
    assert query.error_code == "EXCEEDED_TIME_LIMIT"
    assert time.monotonic() - posted < timeout_s + 3.0


@pytest.mark.parametrize("sql", [
    f"SELECT {REDOS.format(text=repr('b'))} AS {{name}}",
    f"SELECT count_if({REDOS.format(text='s')}) AS {{name}} "
    "FROM UNNEST(ARRAY['b', 'c', 'd']) AS t(s)",
], ids=["constant", "rows"])
def test_a_catastrophic_regex_takes_linear_time(trino: TrinoHandle, sql: str) -> None:
    name = tag("regex")
    started = time.monotonic()
    rows, _ = guarded(trino, sql.format(name=name), "sql", 10)
    assert time.monotonic() - started < 3.0
    assert rows in ([{name: False}], [{name: 0}])


# --------------------------------------------------------------------------- memory


def test_a_query_over_its_memory_limit_is_stopped(trino: TrinoHandle) -> None:
    engine = TrinoEngine(trino.host, trino.port, query_max_memory="1MB")
    # 10^9 distinct keys: far more than a second of work (Trino checks a query's memory once a
    # second, so a query done sooner is never checked), and gigabytes of hash table.
    sql = ("SELECT count(*) AS n FROM (SELECT (a.x * 1000 + b.x) * 1000 + c.x AS k "
           "FROM UNNEST(sequence(1, 1000)) AS a(x) CROSS JOIN UNNEST(sequence(1, 1000)) AS b(x) "
           "CROSS JOIN UNNEST(sequence(1, 1000)) AS c(x) GROUP BY 1)")
    with pytest.raises(EngineError) as caught:
        engine.run(sql, 1, 60, source="sql")
    assert caught.value.code == "too_much_memory"
    assert "1MB" in caught.value.message


def test_a_fork_keeps_the_limits_and_its_own_running_queries() -> None:
    engine = TrinoEngine("127.0.0.1", 1, max_scan_bytes="1GB", query_max_memory="256MB")
    twin = engine.fork()
    assert (twin.host, twin.port, twin.max_scan_bytes, twin.query_max_memory) == (
        "127.0.0.1", 1, "1GB", "256MB")
    assert twin._running is not engine._running


def test_a_cross_or_non_equi_join_is_not_estimated_as_one_scan(trino: TrinoHandle) -> None:
    """Without table statistics Trino cannot size a product: the estimate is unknown (the
    policy's unknown_estimate decides), never the rows of one scan."""
    table = generate(3_000, seed=9, end=date(2026, 11, 8))
    table = table.filter(pc.field("dt") == "2026-11-07")
    apps = pc.binary_join_element_wise("xj-", table["app_id"], "")
    write(table.set_column(table.schema.get_field_index("app_id"), "app_id", apps),
          trino.warehouse, basename="cross")
    trino.register()
    engine = TrinoEngine(trino.host, trino.port)
    for sql in ("SELECT count(*) FROM events a CROSS JOIN events b CROSS JOIN events c",
                "SELECT count(*) FROM events a, events b",
                "SELECT count(*) FROM events a JOIN events b ON a.event_time < b.event_time"):
        assert not engine.explain(sql, source="sql").known, sql
    equi = "SELECT count(*) FROM events a JOIN events b ON a.event_id = b.event_id"
    assert engine.explain(equi, source="sql").known
    assert engine.explain("SELECT count(*) FROM events", source="sql").known
