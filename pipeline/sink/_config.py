"""What a sink process is given (:class:`SinkConfig`), how it ends (:class:`Outcome`), and how
a failure of one of its tasks becomes one :class:`SinkError`."""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from enum import Enum

import nats.errors

from causality.errors import CausalityError
from pipeline.bus import DEFAULT_DUPLICATE_WINDOW_S, DEFAULT_RETENTION_S, STREAMS, Streams
from pipeline.config import SinkSettings
from pipeline.sink._dlq import DEAD_LETTERS, DeadLetters
from pipeline.sink._errors import SinkError
from warehouse.storage import Storage


def new_sink_id() -> str:
    """``<host>-<random>``: unique across processes and restarts (containers all have pid 1)."""
    host = "".join(c if c.isalnum() else "-" for c in socket.gethostname().lower())
    host = host.strip("-")[:24] or "sink"
    return f"{host}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class SinkConfig:
    nats_url: str
    storage: Storage
    options: SinkSettings = field(default_factory=SinkSettings)
    streams: Streams = STREAMS
    dead_letters: DeadLetters = DEAD_LETTERS
    retention_s: float = DEFAULT_RETENTION_S
    duplicate_window_s: float = DEFAULT_DUPLICATE_WINDOW_S
    sink_id: str = field(default_factory=new_sink_id)


class Outcome(Enum):
    DRAINED = "drained"  # stopped, everything fetched was written and ACKed
    DEADLINE = "deadline"  # stopped at the deadline; what was not written was not ACKed
    HANDED_BACK = "handed_back"  # stopped during a storage outage; the unwritten was NAKed


def translate(group: BaseExceptionGroup) -> SinkError:
    """The first failure of the task group, as one :class:`SinkError`."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    if isinstance(first, SinkError):
        return first
    if isinstance(first, CausalityError):
        return SinkError(first.message, code=first.code, hint=first.hint)
    if isinstance(first, nats.errors.ConnectionClosedError):
        return SinkError("the NATS connection is closed", code="nats_closed",
                         hint="NATS was unreachable longer than sink.max_outage_s")
    return SinkError(f"{type(first).__name__}: {first}", code="sink_failed",
                     hint="see the traceback in the log line before this one")
