"""Queries that run until they are stopped, started in a thread (cancel, timeout, queue tests)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from warehouse.engines.duckdb_engine import DuckDBEngine

if TYPE_CHECKING:
    from warehouse.engines.trino_engine import TrinoEngine

SLOW = "select count(*) from range(100000000000) a, range(1000) b where a.range % 7 = b.range"
#: 6.4 * 10^10 rows of arithmetic: minutes of CPU for Trino, from sequences small enough for the
#: guardrails. ``{name}`` names its one column, so a test can find its own queries in
#: ``system.runtime.queries``.
TRINO_SLOW = ("SELECT sum(a.x * b.x * c.x) AS {name} FROM UNNEST(sequence(1, 4000)) AS a(x) "
              "CROSS JOIN UNNEST(sequence(1, 4000)) AS b(x) "
              "CROSS JOIN UNNEST(sequence(1, 4000)) AS c(x)")


def start_slow_query(engine: DuckDBEngine) -> tuple[threading.Thread, list[BaseException]]:
    """The thread running `SLOW` on ``engine`` once DuckDB has it, and where its error lands."""
    failure: list[BaseException] = []

    def worker() -> None:
        try:
            engine.run(SLOW, 10, 60)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    while not engine._running:  # the query has started
        thread.join(0.01)
    return thread, failure


def start_trino_query(engine: TrinoEngine, sql: str, source: str | None,
                      timeout_s: float) -> tuple[threading.Thread, list[BaseException]]:
    """The thread running ``sql`` on ``engine`` (it may not have reached Trino yet), and where
    its error lands."""
    failure: list[BaseException] = []

    def worker() -> None:
        try:
            engine.run(sql, 10, timeout_s, source=source)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    return thread, failure
