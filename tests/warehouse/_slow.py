"""A DuckDB query that runs until it is stopped, started in a thread (cancel tests)."""

from __future__ import annotations

import threading

from warehouse.engines import DuckDBEngine

SLOW = "select count(*) from range(100000000000) a, range(1000) b where a.range % 7 = b.range"


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
