"""The dead-letter stream: messages the sink can never write, kept with the reason.

A dead letter is the original payload, byte for byte, with headers saying where it came from
(stream, stream sequence, subject, ``Nats-Msg-Id``), why (error code and message) and how often
it was delivered. Its own ``Nats-Msg-Id`` is ``<stream>.<seq>``, so the same message dead-lettered
twice (by two sinks, or after a crash between the copy and the ``term``) is stored once.

Replay publishes the payload to its original subject under a new ``Nats-Msg-Id`` (the old one
may still be in the stream's duplicate window, which would silently drop it), then deletes the
dead letter.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, PubAck, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from pipeline.bus import ensure_streams
from pipeline.sink._errors import SinkError

H_CODE = "Causality-Error-Code"
H_ERROR = "Causality-Error"
H_DELIVERED = "Causality-Delivered"
H_STREAM = "Causality-Stream"
H_SEQ = "Causality-Stream-Seq"
H_SUBJECT = "Causality-Subject"
H_MSG_ID = "Causality-Msg-Id"
H_CONSUMER = "Causality-Consumer"
H_AT = "Causality-Dead-At"
H_TRUNCATED = "Causality-Truncated"  # the original size, when the payload was cut to fit
MSG_ID = "Nats-Msg-Id"
_MAX_HEADER = 2000
_HEADROOM = 8192  # for the headers, within the server's max_payload
DLQ_DUPLICATE_WINDOW_S = 120.0  # one dead letter per message, also when two sinks copy it
_REPLAY_SUFFIX = re.compile(r"\.replay-\d+$")


@dataclass(frozen=True)
class DeadLetters:
    """Where dead letters go; tests use :meth:`prefixed` ones of their own."""

    stream: str = "DLQ"
    subject: str = "dlq.events"
    replicas: int = 1  # nats.replicas, as the event streams

    @classmethod
    def prefixed(cls, prefix: str, replicas: int = 1) -> DeadLetters:
        return cls(f"{prefix.upper()}_DLQ", f"{prefix.lower()}.dlq.events", replicas)

    def config(self, retention_s: float) -> StreamConfig:
        return StreamConfig(
            name=self.stream, subjects=[self.subject.rsplit(".", 1)[0] + ".>"],
            description="messages that cannot be processed, with the reason",
            retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
            # A full DLQ refuses: the sink then stops loudly instead of dropping anything.
            discard=DiscardPolicy.NEW, max_age=retention_s,
            duplicate_window=min(DLQ_DUPLICATE_WINDOW_S, retention_s),
            num_replicas=self.replicas)


DEAD_LETTERS = DeadLetters()


@dataclass(frozen=True)
class DeadLetter:
    seq: int  # in the dead-letter stream
    time: datetime | None
    code: str
    error: str
    delivered: int
    stream: str
    stream_seq: int
    subject: str
    msg_id: str | None
    payload: bytes
    truncated: int = 0  # the original size when the payload was cut to fit

    def summary(self) -> dict[str, object]:
        return {"seq": self.seq, "time": self.time.isoformat() if self.time else None,
                "code": self.code, "error": self.error, "delivered": self.delivered,
                "stream": self.stream, "stream_seq": self.stream_seq, "subject": self.subject,
                "msg_id": self.msg_id, "bytes": len(self.payload),
                "truncated": self.truncated}


async def ensure_dead_letters(js: JetStreamContext, dl: DeadLetters, retention_s: float) -> None:
    await ensure_streams(js, [dl.config(retention_s)])


async def dead_letter(js: JetStreamContext, dl: DeadLetters, *, payload: bytes, subject: str,
                      stream: str, stream_seq: int, delivered: int, consumer: str, code: str,
                      error: str, msg_id: str | None, max_payload: int = 1 << 20) -> None:
    """Store one dead letter; returns once JetStream has it (raises otherwise).

    A payload too big to fit with the headers is cut (and marked): the original stays in
    ``stream`` at ``stream_seq`` until its retention ends.
    """
    headers = {
        MSG_ID: f"{stream}.{stream_seq}", H_CODE: code, H_ERROR: _one_line(error),
        H_DELIVERED: str(delivered), H_STREAM: stream, H_SEQ: str(stream_seq),
        H_SUBJECT: subject, H_CONSUMER: consumer,
        H_AT: datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    if msg_id:
        headers[H_MSG_ID] = _one_line(msg_id)
    if len(payload) > max_payload - _HEADROOM:
        headers[H_TRUNCATED] = str(len(payload))
        payload = payload[:max(0, max_payload - _HEADROOM)]
    ack = await js.publish(dl.subject, payload, headers=headers)
    if ack.stream != dl.stream:
        raise SinkError(f"dead letter stored in {ack.stream}, not {dl.stream}",
                        code="dlq_wrong_stream", hint="two streams overlap on " + dl.subject)


async def dead_letters(js: JetStreamContext, dl: DeadLetters) -> AsyncIterator[DeadLetter]:
    seq = 1
    while True:
        try:
            raw = await js.get_msg(dl.stream, seq, subject=dl.subject, next=True)
        except NotFoundError:
            return
        letter = _letter(raw.seq or seq, raw.time, raw.headers or {}, raw.data or b"")
        yield letter
        seq = letter.seq + 1


async def get_dead_letter(js: JetStreamContext, dl: DeadLetters, seq: int) -> DeadLetter:
    try:
        raw = await js.get_msg(dl.stream, seq)
    except NotFoundError:
        raise SinkError(f"no dead letter {seq} in {dl.stream}", code="dead_letter_not_found",
                        hint="`causality dlq list` shows the sequence numbers") from None
    return _letter(seq, raw.time, raw.headers or {}, raw.data or b"")


async def replay(js: JetStreamContext, dl: DeadLetters, seq: int) -> PubAck:
    """Publish dead letter ``seq`` to its original subject again, then delete it."""
    letter = await get_dead_letter(js, dl, seq)
    if letter.truncated:
        raise SinkError(f"dead letter {seq} holds only the start of a {letter.truncated}-byte "
                        "payload", code="dead_letter_truncated",
                        hint=f"the original is {letter.stream}#{letter.stream_seq} while retained")
    if not letter.subject:
        raise SinkError(f"dead letter {seq} has no original subject", code="dead_letter_no_subject",
                        hint="it was not written by the sink; inspect it with `dlq show`")
    base = _REPLAY_SUFFIX.sub("", letter.msg_id or f"{letter.stream}.{letter.stream_seq}")
    ack = await js.publish(letter.subject, letter.payload,
                           headers={MSG_ID: f"{base}.replay-{seq}"})
    await js.delete_msg(dl.stream, seq)
    return ack


def _letter(seq: int, time: datetime | None, h: dict[str, str], payload: bytes) -> DeadLetter:
    return DeadLetter(
        seq=seq, time=time, code=h.get(H_CODE, ""), error=h.get(H_ERROR, ""),
        delivered=_int(h.get(H_DELIVERED)), stream=h.get(H_STREAM, ""),
        stream_seq=_int(h.get(H_SEQ)), subject=h.get(H_SUBJECT, ""),
        msg_id=h.get(H_MSG_ID), payload=payload, truncated=_int(h.get(H_TRUNCATED)))


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _one_line(text: str) -> str:
    """Header values: one line of ASCII (non-ASCII escaped), long ones cut."""
    flat = " ".join(text.split()).encode("ascii", "backslashreplace").decode()
    return flat if len(flat) <= _MAX_HEADER else flat[:_MAX_HEADER - 3] + "..."
