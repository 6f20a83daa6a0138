"""Running a hand-written query so that it can be cancelled without touching anyone else's.

An engine's ``cancel()`` stops every query running on that engine, so the SQL page gives
each browser session an engine of its own (`own_engine`): the workspace engine's
``fork()`` (for DuckDB the same connection and day cache with its own list of running
queries; for Trino a client for the same server, which holds no connection between queries).
The query runs in a worker thread (`QueryJob`) that the page polls while it shows a Cancel
button; cancelling interrupts only this session's engine. Every run still goes through
`Workspace.run_sql` on that engine: checked, capped, audited under the signed-in user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from causality.errors import CausalityError
from guardrails import CheckedQuery
from guardrails.execute import Execution
from metadata.users import User
from warehouse.engines import Engine, Estimate
from workspace.errors import WorkspaceError
from workspace.service import Workspace

CANCEL_WAIT_S = 10.0
CANCEL_POLL_S = 0.05


def own_engine(ws: Workspace) -> Engine:
    """A private engine like the workspace's: its ``cancel()`` stops only this session's."""
    return ws.engine.fork()


def estimate(ws: Workspace, engine: Engine, sql: str, scope: str | None,
             user: User) -> tuple[CheckedQuery, Estimate]:
    """The guardrails' verdict (rewritten SQL) and the engine's estimate, without running."""
    ws.require(user, "analyst")
    return ws.check(sql, ws.scope(user, scope), engine=engine)


def run_guarded(ws: Workspace, engine: Engine, sql: str, *, user: User, scope: str | None,
                question: str | None = None) -> Execution:
    """`Workspace.run_sql`, on `engine`: checked, capped, audited under `user`."""
    return ws.run_sql(sql, user=user, app_id=scope, source="sql", question=question,
                      engine=engine)


@dataclass
class QueryJob:
    """One query running in a worker thread on `engine`."""

    sql: str
    engine: Engine
    future: Future[Execution]
    scope: str | None = None
    started: float = field(default_factory=time.monotonic)
    cancelled: bool = False

    @classmethod
    def start(cls, sql: str, engine: Engine, run: Callable[[], Execution], *,
              scope: str | None = None) -> QueryJob:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="causality-sql")
        try:
            future = pool.submit(run)
        finally:
            pool.shutdown(wait=False)  # the thread ends when the query does
        return cls(sql, engine, future, scope)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def done(self) -> bool:
        return self.future.done()

    def wait(self, timeout_s: float) -> bool:
        """True once the query has finished (or failed, or was cancelled)."""
        try:
            self.future.exception(timeout=timeout_s)
        except TimeoutError:
            return False
        return True

    def cancel(self, wait_s: float = CANCEL_WAIT_S) -> bool:
        """Interrupt the query; True once it has stopped.

        The engine can only interrupt a query it has started, so a cancel that lands while
        the guardrails are still checking is repeated until the query is gone.
        """
        self.cancelled = True
        deadline = time.monotonic() + wait_s
        while not self.done() and time.monotonic() < deadline:
            self.engine.cancel()
            self.wait(CANCEL_POLL_S)
        return self.done()

    def outcome(self) -> Execution | CausalityError:
        """The execution, or the error (guardrails, engine, scope) to show instead."""
        error = self.future.exception()
        if error is None:
            return self.future.result()
        if isinstance(error, CausalityError):
            return error
        return WorkspaceError(f"the query failed unexpectedly: {type(error).__name__}",
                              code="internal_error",
                              hint="try again; if it keeps failing, tell an admin")

