"""The sink: JetStream ``EVENTS`` → atomic, partitioned Parquet files, ACKed only once written.

It owns the durable pull consumer every sink process shares, the dead-letter stream (``DLQ``:
listing and replay too), and the raw files of the warehouse (``s-`` prefix; the compactor
merges them). See DESIGN.md (data flow, decisions 1 and 2), :mod:`pipeline.bus` for the
message format and :mod:`pipeline.sink._sink` for how the process is organised.
"""

from pipeline.sink._config import Outcome, SinkConfig, new_sink_id
from pipeline.sink._dlq import (
    DEAD_LETTERS,
    DeadLetter,
    DeadLetters,
    dead_letters,
    get_dead_letter,
    replay,
)
from pipeline.sink._errors import Poison, SinkError
from pipeline.sink._log import configure_logging
from pipeline.sink._metrics import Metrics
from pipeline.sink._sink import Sink

__all__ = [
    "DEAD_LETTERS",
    "DeadLetter",
    "DeadLetters",
    "Metrics",
    "Outcome",
    "Poison",
    "Sink",
    "SinkConfig",
    "SinkError",
    "configure_logging",
    "dead_letters",
    "get_dead_letter",
    "new_sink_id",
    "replay",
]
