"""How far behind a durable consumer is, in time.

JetStream deletes a message when it is older than the stream's ``max_age`` (``nats.retention_s``)
whether or not a consumer has ACKed it, so a consumer that stays down long enough loses events
without a word. :func:`measure` finds the age of the consumer's oldest unconsumed message (the
first message of its filter after its ACK floor: delivered or not, not ACKed) and sets it against
the stream's max age; :class:`BacklogAlarm` logs when that passes a fraction of it. The sink and
the reactor poll it with their lag gauges; ``causality backlog`` shows it for every consumer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, ConsumerInfo, RawStreamMsg

from pipeline.errors import PipelineError

WARN_FRACTION = 0.5  # of the stream's max age: a WARNING
ERROR_FRACTION = 0.9  # an ERROR
REPEAT_S = 600.0  # while above a level, the line is repeated this often


class BacklogError(PipelineError):
    code = "backlog_unavailable"


class LogFn(Protocol):
    """A process's ``log(level, msg, exc=None, **fields)``."""

    def __call__(self, level: int, msg: str, exc: BaseException | None = None,
                 **fields: Any) -> None: ...


@dataclass(frozen=True)
class Backlog:
    """One consumer's backlog; ``age_s`` is 0 when nothing is unconsumed, ``max_age_s`` 0 when
    the stream keeps messages for ever (then :attr:`fraction` is None)."""

    stream: str
    durable: str
    pending: int  # not yet delivered
    ack_pending: int  # delivered, not yet ACKed
    oldest_seq: int | None
    oldest_time: datetime | None
    age_s: float
    max_age_s: float

    @property
    def fraction(self) -> float | None:
        return self.age_s / self.max_age_s if self.max_age_s > 0 else None

    def detail(self) -> dict[str, Any]:
        """The ``backlog`` field of ``/readyz``."""
        fraction = self.fraction
        return {"oldest_unconsumed_age_s": round(self.age_s, 3),
                "stream_max_age_s": self.max_age_s,
                "fraction": None if fraction is None else round(fraction, 4)}

    def to_dict(self) -> dict[str, Any]:
        return {"stream": self.stream, "durable": self.durable, "pending": self.pending,
                "ack_pending": self.ack_pending, "oldest_seq": self.oldest_seq,
                "oldest_time": self.oldest_time.isoformat() if self.oldest_time else None,
                **self.detail()}


def filter_subjects(config: ConsumerConfig) -> list[str]:
    """The subjects a consumer reads: its filter(s), or every subject of the stream."""
    if config.filter_subjects:
        return list(config.filter_subjects)
    return [config.filter_subject] if config.filter_subject else [">"]


def backlog_of(info: ConsumerInfo, max_age_s: float, oldest: RawStreamMsg | None,
               now: datetime) -> Backlog:
    """The backlog from a consumer's info, its stream's max age and its oldest unconsumed
    message (None when there is none)."""
    stamp = oldest.time if oldest is not None else None
    age = max(0.0, (now - stamp).total_seconds()) if stamp is not None else 0.0
    return Backlog(stream=info.stream_name, durable=info.name, pending=info.num_pending or 0,
                   ack_pending=info.num_ack_pending or 0,
                   oldest_seq=oldest.seq if oldest is not None else None, oldest_time=stamp,
                   age_s=age, max_age_s=max_age_s)


def level_for(fraction: float | None, warn_fraction: float = WARN_FRACTION,
              error_fraction: float = ERROR_FRACTION) -> int:
    """``logging.ERROR``, ``logging.WARNING`` or 0 (nothing to say) for a backlog's fraction."""
    if fraction is None:
        return 0
    if fraction >= error_fraction:
        return logging.ERROR
    return logging.WARNING if fraction >= warn_fraction else 0


async def oldest_unconsumed(js: JetStreamContext, stream: str, ack_floor: int,
                            subjects: Sequence[str]) -> RawStreamMsg | None:
    """The first message after ``ack_floor`` on one of ``subjects``; messages deleted or
    expired since are skipped by the server. None when there is none."""
    found: list[RawStreamMsg] = []
    for subject in subjects:
        try:
            found.append(await js.get_msg(stream, ack_floor + 1, subject=subject, next=True))
        except nats.js.errors.NotFoundError:
            continue
    return min(found, key=lambda m: m.seq or 0, default=None)


async def measure(js: JetStreamContext, stream: str, durable: str, *,
                  info: ConsumerInfo | None = None, now: datetime | None = None) -> Backlog:
    """The backlog of ``durable`` on ``stream`` at ``now`` (default: the wall clock, which the
    message timestamps are on). Pass ``info`` when it was just read. Raises
    :class:`BacklogError`."""
    try:
        if info is None:
            info = await js.consumer_info(stream, durable)
        max_age = (await js.stream_info(stream)).config.max_age or 0.0
        oldest = None
        if (info.num_pending or info.num_ack_pending) and info.ack_floor is not None:
            oldest = await oldest_unconsumed(js, stream, info.ack_floor.stream_seq,
                                             filter_subjects(info.config))
    except nats.js.errors.NotFoundError:
        raise BacklogError(f"no consumer {durable!r} on stream {stream!r}",
                           code="consumer_not_found",
                           hint="it is made when its process (sink, reactor) first starts"
                           ) from None
    except (TimeoutError, nats.errors.Error) as err:
        raise BacklogError(f"cannot read the backlog of {stream}/{durable}: {err!r}",
                           code="nats_failed", hint="check the NATS server") from None
    return backlog_of(info, float(max_age), oldest, now or datetime.now(UTC))


async def survey(js: JetStreamContext, stream: str, *,
                 now: datetime | None = None) -> list[Backlog]:
    """The backlog of every consumer on ``stream``, by name. Raises :class:`BacklogError`."""
    try:
        infos = await js.consumers_info(stream)
    except nats.js.errors.NotFoundError:
        raise BacklogError(f"no stream {stream!r}", code="stream_not_found",
                           hint="the sink and the ingest edge make it when they start; "
                                "check nats.url") from None
    except (TimeoutError, nats.errors.Error) as err:
        raise BacklogError(f"cannot list the consumers of {stream}: {err!r}",
                           code="nats_failed", hint="check the NATS server") from None
    at = now or datetime.now(UTC)
    found = [await measure(js, stream, i.name, info=i, now=at) for i in infos]
    return sorted(found, key=lambda b: b.durable)


class BacklogAlarm:
    """Logs a consumer's backlog past ``warn_fraction`` (WARNING) or ``error_fraction`` (ERROR)
    of the stream's max age: when it gets there, then every ``repeat_s`` while it stays; once
    (INFO) when it is back under."""

    def __init__(self, log: LogFn, warn_fraction: float = WARN_FRACTION,
                 error_fraction: float = ERROR_FRACTION, repeat_s: float = REPEAT_S):
        self._log = log
        self.warn_fraction = warn_fraction
        self.error_fraction = error_fraction
        self.repeat_s = repeat_s
        self._level = 0
        self._logged_at = 0.0

    def check(self, backlog: Backlog, now_s: float | None = None) -> int:
        """Log if due; returns the level logged (0: nothing). ``now_s`` is monotonic time."""
        now_s = time.monotonic() if now_s is None else now_s
        level = level_for(backlog.fraction, self.warn_fraction, self.error_fraction)
        was, self._level = self._level, level
        if level == 0:
            if was:
                self._log(logging.INFO, "consumer backlog back under the warning fraction",
                          **self._fields(backlog))
                return logging.INFO
            return 0
        if level == was and now_s - self._logged_at < self.repeat_s:
            return 0
        self._logged_at = now_s
        self._log(level, "unconsumed events are getting old: JetStream deletes them unread at "
                  "the stream's max age (nats.retention_s)", **self._fields(backlog))
        return level

    def _fields(self, b: Backlog) -> dict[str, Any]:
        return {"stream": b.stream, "durable": b.durable, "pending": b.pending,
                "ack_pending": b.ack_pending, **b.detail(), "warn_fraction": self.warn_fraction}
