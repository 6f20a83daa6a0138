"""One person's hostile queries do not take the workspace down.

Everything runs in this one process, as the Streamlit server runs every person's queries:
one `Workspace` over one 512 MB DuckDB engine, a timeout of 2 s. Mallory sends the issue's
attacks and their cousins from one thread while Bob's dashboard queries run from another.
Each attack is refused or stopped with a code; Bob's answers all come back, right; the
process stays within DuckDB's memory limit plus a margin. Durations are printed, and only
bounded generously (timeout + 1 s, plus slack for a shared machine).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from causality.settings import load_settings
from guardrails import Rejected
from metadata import open_db
from metadata.users import User
from tests.guardrails._hostile import (
    MEMORY_LIMIT,
    MEMORY_LIMIT_BYTES,
    RSS_MARGIN_BYTES,
    STOP_SLACK_S,
    TIMEOUT_S,
    demo_warehouse,
    sampled_rss,
)
from warehouse.engines import EngineError
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.service import Workspace

pytestmark = pytest.mark.timeout(600)

IN_LIST = ", ".join(f"'e{i}'" for i in range(30_000))
#: (name, sql, how it may end: refused or stopped with one of these codes, or "ok")
ATTACKS = [
    ("repeat", "SELECT length(repeat('x', 2000000000)) AS n", {"value_too_large"}),
    ("range", "SELECT count(*) AS n FROM UNNEST(range(0, 3000000000)) AS t(x)",
     {"value_too_large"}),
    ("sequence", "SELECT count(*) AS n FROM UNNEST(sequence(1, 3000000000)) AS t(x)",
     {"value_too_large"}),
    ("lpad", "SELECT length(lpad('x', 2000000000, 'y')) AS n", {"value_too_large"}),
    ("printf width", "SELECT length(printf('%2000000000d', 1)) AS n", {"value_too_large"}),
    ("list_resize", "SELECT cardinality(list_resize(ARRAY[1], 300000000)) AS n",
     {"value_too_large"}),
    ("repeat by a column", "SELECT max(length(repeat(properties, hour * 100000))) AS n "
     "FROM events", {"unbounded_function"}),
    ("doubling recursion", "WITH RECURSIVE t(s) AS (SELECT 'x' UNION ALL SELECT s || s "
     "FROM t) SELECT max(length(s)) AS n FROM t", {"unbounded_recursion"}),
    ("endless recursion", "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) "
     "SELECT count(*) AS c FROM t", {"query_timeout", "out_of_memory"}),
    ("three-way cross join", "SELECT count(*) AS n FROM events a, events b, events c",
     {"too_expensive"}),
    ("cross join of generators", "SELECT count(*) AS n FROM UNNEST(sequence(1, 4000)) AS a(x) "
     "CROSS JOIN UNNEST(sequence(1, 4000)) AS b(y) CROSS JOIN UNNEST(sequence(1, 4000)) AS c(z)",
     {"query_timeout"}),
    ("non-equi join", "SELECT count(*) AS n FROM events a JOIN events b "
     "ON a.event_time < b.received_at AND a.user_id <> b.user_id",
     {"ok", "query_timeout", "too_expensive"}),
    ("wide distinct", "SELECT count(DISTINCT concat(event_id, repeat('x', 30000))) AS n "
     "FROM events", {"ok", "out_of_memory", "query_timeout"}),
    ("string_agg of everything", "SELECT length(string_agg(concat(a.event_id, b.event_id), ',')) "
     "AS n FROM events a CROSS JOIN (SELECT event_id FROM events LIMIT 2000) b",
     {"ok", "out_of_memory", "query_timeout"}),
    ("catastrophic regex (RE2 is linear)", "SELECT count(*) AS n FROM events WHERE "
     "regexp_like(concat(repeat('a', 30000), event_type), '(a+)+$')", {"ok", "query_timeout"}),
    ("huge IN list", f"SELECT count(*) AS n FROM events WHERE event_id IN ({IN_LIST})",
     {"too_long", "too_complex"}),
]
BENIGN = [
    "SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 1",
    "SELECT app_id, count(DISTINCT user_id) AS users FROM events GROUP BY 1 ORDER BY 1",
    "SELECT dt, count(*) AS n FROM events GROUP BY 1 ORDER BY 1",
]


def person(name: str) -> User:
    return User(name, "analyst", None, None, datetime.now(UTC))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("hostile")
    engine = DuckDBEngine(demo_warehouse(root / "wh", 50_000), memory_limit=MEMORY_LIMIT)
    workspace = Workspace(load_settings(data_dir=root, query={"timeout_s": TIMEOUT_S}),
                          engine=engine, db=open_db(f"sqlite:///{root / 'meta.db'}"))
    yield workspace
    workspace.close()


def outcome(ws: Workspace, sql: str, user: User) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        ws.run_sql(sql, user=user)
        code = "ok"
    except (Rejected, EngineError) as err:  # anything else is a broken contract
        code = err.code
    return code, time.perf_counter() - started


def test_one_persons_attacks_are_stopped_while_another_is_answered(ws: Workspace) -> None:
    mallory, bob = person("mallory"), person("bob")
    expected = {sql: ws.run_sql(sql, user=bob).table for sql in BENIGN}
    ended: list[tuple[str, str, float]] = []
    answered: list[float] = []
    wrong: list[str] = []
    failed: list[str] = []
    attacking = threading.Event()
    attacking.set()

    def attack() -> None:
        try:
            for name, sql, _ in ATTACKS:
                ended.append((name, *outcome(ws, sql, mallory)))
        finally:
            attacking.clear()

    def dashboard() -> None:
        while attacking.is_set():
            for sql in BENIGN:
                started = time.perf_counter()
                try:
                    got = ws.run_sql(sql, user=bob).table
                except Exception as err:  # every failure is reported
                    failed.append(f"{sql}: {err!r}")
                    continue
                answered.append(time.perf_counter() - started)
                if not got.equals(expected[sql]):
                    wrong.append(sql)

    with sampled_rss() as rss:
        threads = [threading.Thread(target=attack), threading.Thread(target=dashboard)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    assert not any(thread.is_alive() for thread in threads)

    report = "\n".join(f"  {name:38} {code:20} {took:6.2f} s" for name, code, took in ended)
    print(f"\nattacks (timeout {TIMEOUT_S:g} s, DuckDB memory limit {MEMORY_LIMIT}):\n{report}"
          f"\nBob: {len(answered)} answers, slowest {max(answered, default=0):.2f} s; "
          f"RSS {rss.baseline >> 20} MB -> peak {rss.peak >> 20} MB")
    assert [name for name, _, _ in ended] == [name for name, _, _ in ATTACKS]
    for (name, code, took), (_, _, allowed) in zip(ended, ATTACKS, strict=True):
        assert code in allowed, f"{name} ended with {code}"
        assert took < TIMEOUT_S + STOP_SLACK_S, f"{name} took {took:.1f} s"
    assert not failed, failed
    assert len(answered) >= len(BENIGN) and not wrong
    assert rss.grew < MEMORY_LIMIT_BYTES + RSS_MARGIN_BYTES
    assert ws.run_sql(BENIGN[0], user=mallory).table.equals(expected[BENIGN[0]])


def test_the_attacks_are_audited_with_their_codes(ws: Workspace) -> None:
    mallory = person("mallory2")
    for _, sql, _ in ATTACKS[:2]:
        with pytest.raises(Rejected):
            ws.run_sql(sql, user=mallory)
    records = [r for r in ws.audit.tail(50) if r["actor"] == "mallory2"]
    assert [r["code"] for r in records] == ["value_too_large", "value_too_large"]
    assert all(r["verdict"] == "rejected" and r["sql_run"] is None for r in records)
