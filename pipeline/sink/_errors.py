"""The sink's errors: the root :class:`SinkError`, and :class:`Poison` for one bad message."""

from __future__ import annotations

from pipeline.errors import PipelineError


class SinkError(PipelineError):
    """The sink cannot go on (storage, NATS, a deadline); it stops with a non-zero exit."""

    code = "sink_error"


class Poison(SinkError):
    """One message that can never be written; it goes to the dead-letter stream."""

    code = "poison_message"
