"""Every tunable with its default, as named constants with units, gathered in ``Options``."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from ._errors import ConfigError, Report

MAX_QUEUE_EVENTS = 100_000
MAX_QUEUE_BYTES = 64 * 1024 * 1024
MAX_EVENT_BYTES = 32 * 1024  # the ingest edge (and Segment) refuse larger events
BATCH_SIZE = 100  # events per request; also the server's limit
BATCH_BYTES = 500_000  # uncompressed request body; the server's limit is 500 KB
FLUSH_INTERVAL_S = 1.0
REQUEST_TIMEOUT_S = 10.0
RETRY_BASE_S = 0.5
RETRY_MAX_S = 60.0
RETRY_AFTER_MAX_S = 600.0
SHUTDOWN_TIMEOUT_S = 5.0  # the atexit flush deadline
DEFAULT_PRIORITY = 50
# Higher survives longer when the queue is full. Keys are message types or track event names.
DEFAULT_PRIORITIES: Mapping[str, int] = {
    "screen": 10,
    "page": 20,
    "track": DEFAULT_PRIORITY,
    "group": 70,
    "identify": 80,
    "alias": 90,
}
QUEUE_DIR_ENV = "CAUSALITY_SDK_QUEUE_DIR"


@dataclass(frozen=True)
class Options:
    """How a ``Client`` queues and delivers. Every field has a default; see the README."""

    queue_dir: str | None = None  # None: $CAUSALITY_SDK_QUEUE_DIR, else a per-user cache dir
    max_queue_events: int = MAX_QUEUE_EVENTS
    max_queue_bytes: int = MAX_QUEUE_BYTES
    max_event_bytes: int = MAX_EVENT_BYTES
    priorities: Mapping[str, int] = field(default_factory=dict)  # merged over DEFAULT_PRIORITIES
    batch_size: int = BATCH_SIZE
    batch_bytes: int = BATCH_BYTES
    flush_interval_s: float = FLUSH_INTERVAL_S
    request_timeout_s: float = REQUEST_TIMEOUT_S
    retry_base_s: float = RETRY_BASE_S
    retry_max_s: float = RETRY_MAX_S
    retry_after_max_s: float = RETRY_AFTER_MAX_S
    shutdown_timeout_s: float = SHUTDOWN_TIMEOUT_S
    gzip: bool = True
    send: bool = True  # False: queue durably but never deliver (tests, dry runs)
    fsync: bool = False  # True: survive power loss too (synchronous=FULL, ~ms per call)
    on_error: Callable[[Report], None] | None = None

    def with_overrides(self, overrides: Mapping[str, object]) -> Options:
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ConfigError(f"unknown option(s) {unknown}; valid options are {sorted(names)}")
        return dataclasses.replace(self, **overrides)  # type: ignore[arg-type]

    def priority_table(self) -> dict[str, int]:
        return {**DEFAULT_PRIORITIES, **self.priorities}


def validate(write_key: object, host: object, options: Options) -> None:
    """Raise ConfigError naming the first bad setting and how to fix it."""
    if not isinstance(write_key, str) or not write_key:
        raise ConfigError("write_key must be a non-empty string (the app's write key)")
    if not isinstance(host, str) or urlsplit(host).scheme not in ("http", "https"):
        raise ConfigError(
            f"host must be an http(s) URL such as 'https://ingest.example.com', got {host!r}"
        )
    if not urlsplit(host).hostname:
        raise ConfigError(f"host {host!r} has no host name")
    positive_ints = ("max_queue_events", "max_queue_bytes", "max_event_bytes", "batch_bytes")
    for name in positive_ints:
        value = getattr(options, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(options.batch_size, int) or not 1 <= options.batch_size <= BATCH_SIZE:
        raise ConfigError(f"batch_size must be 1..{BATCH_SIZE}, got {options.batch_size!r}")
    if options.max_event_bytes > options.batch_bytes:
        raise ConfigError("max_event_bytes must not exceed batch_bytes")
    for name in (
        "flush_interval_s",
        "request_timeout_s",
        "retry_base_s",
        "retry_max_s",
        "retry_after_max_s",
        "shutdown_timeout_s",
    ):
        value = getattr(options, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    for key, value in dict(options.priorities).items():
        if not isinstance(key, str) or not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(
                f"priorities maps type or event name (str) to int, got {key!r}: {value!r}"
            )
    if options.on_error is not None and not callable(options.on_error):
        raise ConfigError("on_error must be a callable taking one Report")
    if options.queue_dir is not None and not isinstance(options.queue_dir, (str, os.PathLike)):
        raise ConfigError(f"queue_dir must be a path, got {options.queue_dir!r}")


def default_queue_dir() -> str:
    explicit = os.environ.get(QUEUE_DIR_ENV)
    if explicit:
        return explicit
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if os.path.isdir(cache) and os.access(cache, os.W_OK):
        return os.path.join(cache, "causality-sdk")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return os.path.join(tempfile.gettempdir(), f"causality-sdk-{uid}")
