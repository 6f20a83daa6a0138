"""The SDK's one exception tree and the report shape handed to ``on_error``."""

from __future__ import annotations

from dataclasses import dataclass


class CausalityError(Exception):
    """Root of every exception this package raises (only ever from ``Client(...)``)."""


class ConfigError(CausalityError, ValueError):
    """An option or constructor argument is invalid; the message names it and the fix."""


# Stable report codes, so callbacks can switch on them.
INVALID_ARGUMENT = "invalid_argument"  # a call's arguments were wrong; event dropped
TOO_LARGE = "too_large"  # event over max_event_bytes; dropped before queueing
EVICTED = "evicted"  # queue full; events removed by priority, then age
REJECTED = "rejected"  # the server refused an event (invalid / 400 / 413); removed
UNAUTHORIZED = "unauthorized"  # 401/403: sending stopped, queue kept
DELIVERY_RETRY = "delivery_retry"  # a batch failed and will be retried later
QUEUE_ERROR = "queue_error"  # the on-disk queue failed; see hint
NOT_DURABLE = "queue_not_durable"  # fell back to an in-memory queue
CLOSED = "closed"  # a call after shutdown()
INTERNAL_ERROR = "internal_error"  # a bug in this SDK; please report it


@dataclass(frozen=True)
class Report:
    """One problem, as passed to ``on_error`` and logged: a stable code, the facts, a hint."""

    code: str
    message: str
    hint: str = ""
    message_id: str | None = None
    event_type: str | None = None
    status: int | None = None  # HTTP status, when the server answered
    count: int = 1  # events concerned
    reason: str | None = None  # the server's reason, when it gave one
