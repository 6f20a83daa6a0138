"""`execute`: check → cost estimate → run with caps → sanity flags → audit, per user rate limit.

Policy lives in :class:`guardrails.Policy`; I/O only through the engine and the audit sink the
caller passes in (guardrails never open a connection of their own).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from guardrails._check import check
from guardrails._errors import Rejected
from guardrails._policy import Policy
from guardrails._result import CheckedQuery
from warehouse.engines import Engine, EngineError, Estimate, QueryResult

#: Who asked (``warehouse.engines.QUERY_SOURCES``): a dashboard tile, an embed link, the AI
#: analyst's chat, hand-written SQL, a notebook. Stored as is in the audit log.
Source = Literal["dashboard", "embed", "chat", "sql", "notebook"]
ABSURD_MAGNITUDE = 1e15


@dataclass(frozen=True)
class AuditRecord:
    """One attempt to run a query, whatever its outcome."""

    actor: str
    source: Source
    sql_in: str
    verdict: Literal["ok", "rejected", "error"]
    question: str | None = None
    sql_run: str | None = None
    code: str | None = None
    message: str | None = None
    engine: str | None = None
    est_rows: int | None = None
    est_bytes: int | None = None
    duration_ms: float | None = None
    rows: int | None = None
    flags: tuple[str, ...] = ()
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class AuditSink(Protocol):
    def record(self, entry: AuditRecord) -> int: ...


@dataclass(frozen=True)
class Execution:
    checked: CheckedQuery
    result: QueryResult
    estimate: Estimate
    flags: tuple[str, ...]
    audit_id: int | None

    @property
    def table(self) -> pa.Table:
        return self.result.table


class RateLimiter:
    """Sliding one-minute window of query starts per actor (process-wide by default)."""

    def __init__(self) -> None:
        self._starts: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def admit(self, actor: str, per_minute: int | None) -> None:
        if per_minute is None:
            return
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._starts.get(actor, []) if now - t < 60.0]
            if len(recent) >= per_minute:
                wait = int(60.0 - (now - recent[0])) + 1
                self._starts[actor] = recent
                raise Rejected("rate_limited",
                               f"{actor} ran {len(recent)} queries in the last minute",
                               hint=f"wait {wait} s; the limit is {per_minute} per minute")
            recent.append(now)
            self._starts[actor] = recent


DEFAULT_LIMITER = RateLimiter()


def execute(
    sql: str,
    *,
    engine: Engine,
    policy: Policy,
    actor: str,
    source: Source,
    audit: AuditSink | None = None,
    question: str | None = None,
    catalog: Mapping[str, Mapping[str, str]] | None = None,
    limiter: RateLimiter = DEFAULT_LIMITER,
) -> Execution:
    """Run ``sql`` (Trino dialect) under ``policy``; every attempt is audited. The check is
    for the engine's own ``dialect``, whatever ``policy.dialect`` says.

    Raises :class:`Rejected` (guardrails, cost, rate limit) or an engine error; both are
    audited before they propagate.
    """
    record = {"actor": actor, "source": source, "sql_in": sql, "question": question,
              "engine": engine.name}
    policy = policy.for_dialect(engine.dialect)
    checked: CheckedQuery | None = None
    estimate = Estimate()
    try:
        limiter.admit(actor, policy.queries_per_minute)
        tables = catalog if catalog is not None else engine.catalog(samples=False).tables
        checked = check(sql, tables, policy)
        estimate = engine.explain(checked.sql)  # internal group: never queued behind its source
        max_rows, timeout_s, flags = _caps(estimate, policy)
        result = engine.run(checked.sql, max_rows, timeout_s, source=source)
    except Rejected as err:
        _audit(audit, record, "rejected", checked, estimate, code=err.code, message=err.message)
        raise
    except EngineError as err:
        _audit(audit, record, "error", checked, estimate, code=err.code, message=err.message)
        raise
    flags += _sanity(result)
    audit_id = _audit(audit, record, "ok", checked, estimate, duration_ms=result.duration_ms,
                      rows=result.table.num_rows, flags=flags)
    return Execution(checked, result, estimate, flags, audit_id)


def _caps(estimate: Estimate, policy: Policy) -> tuple[int, float, tuple[str, ...]]:
    """Reject too-expensive queries; decide the row cap and timeout of the run."""
    if policy.max_scan_bytes is not None and (estimate.bytes or 0) > policy.max_scan_bytes:
        raise Rejected("too_expensive",
                       f"the query would scan about {estimate.bytes:,} bytes "
                       f"(limit {policy.max_scan_bytes:,})",
                       hint="filter by dt (the date partition) or by app_id")
    if policy.max_scan_rows is not None and (estimate.rows or 0) > policy.max_scan_rows:
        # The engine's estimate is the most rows one operator handles: a cross or non-equi
        # join handles the product of its inputs.
        raise Rejected("too_expensive",
                       f"the query would read or combine about {estimate.rows:,} rows "
                       f"(limit {policy.max_scan_rows:,})",
                       hint="filter by dt (the date partition), aggregate, or join on an "
                            "equality of keys: a cross or non-equi join pairs every row of "
                            "one side with every row of the other")
    if estimate.known or policy.unknown_estimate == "run":
        return policy.max_rows, policy.timeout_s, ()
    if policy.unknown_estimate == "reject":
        raise Rejected("unknown_cost", "the engine could not estimate the query's cost",
                       hint="add a filter on dt, or ask an admin to allow unknown estimates")
    return (min(policy.max_rows, policy.strict_max_rows),
            min(policy.timeout_s, policy.strict_timeout_s), ("unknown_estimate",))


def _sanity(result: QueryResult) -> tuple[str, ...]:
    flags: list[str] = []
    if result.table.num_rows == 0:
        flags.append("empty_result")
    if result.truncated:
        flags.append("truncated")
    for column in result.table.columns:
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            biggest = pc.max(pc.abs(column)).as_py()
            if biggest is not None and biggest > ABSURD_MAGNITUDE:
                flags.append("absurd_magnitude")
                break
    return tuple(flags)


def _audit(audit: AuditSink | None, record: Mapping[str, object],
           verdict: Literal["ok", "rejected", "error"], checked: CheckedQuery | None,
           estimate: Estimate, **extra: object) -> int | None:
    if audit is None:
        return None
    entry = AuditRecord(verdict=verdict, sql_run=checked.sql if checked else None,
                        est_rows=estimate.rows, est_bytes=estimate.bytes,
                        **record, **extra)  # type: ignore[arg-type]
    return audit.record(entry)
