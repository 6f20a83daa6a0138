"""Each test gets an edge of its own: its own streams (a unique prefix) on the session's
nats-server, its own metadata database and write keys."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.bus import Streams
from pipeline.natsd import NatsServer

from .support import Ingest, make_settings


@pytest.fixture
def start_ingest(tmp_path: Path, nats_server: NatsServer) -> Iterator[Callable[..., Ingest]]:
    """Start an edge with ingest settings overridden: ``start_ingest(rate_limit_burst=10)``."""
    started: list[Ingest] = []

    def start(nats_url: str | None = None, wait_ready: bool = True, **ingest: Any) -> Ingest:
        streams = Streams.prefixed("t" + uuid.uuid4().hex[:10])
        server = Ingest(make_settings(tmp_path, nats_url or nats_server.url, **ingest), streams)
        started.append(server)
        return server.start(wait_ready=wait_ready)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def ingest(start_ingest: Callable[..., Ingest]) -> Ingest:
    return start_ingest()
