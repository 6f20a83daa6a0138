"""An ingest server on a random port, in a thread of the test process, against real NATS."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import nats
import requests

from causality.settings import Settings
from metadata import KeyStore, open_db
from pipeline.bus import EventBatch, QuarantineBatch, Streams, decode_batch, decode_quarantine
from pipeline.ingest import serve


class Ingest:
    """A running edge: ``url``, ``key(app)``, and readers of what reached the streams."""

    def __init__(self, settings: Settings, streams: Streams):
        self.settings = settings
        self.streams = streams
        self.nats_url = settings.nats.server_url
        self.store = KeyStore(open_db(settings.metadata_db_url))
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.http = requests.Session()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        await serve(self.settings, self.streams, port=0, announce=self._announce,
                    stop=self._stop, install_signals=False)

    def _announce(self, url: str) -> None:
        self.url = url
        self._listening.set()

    def start(self, wait_ready: bool = True) -> Ingest:
        self._thread.start()
        assert self._listening.wait(30), "ingest did not listen"
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.http.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError("ingest not ready in time")

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)
        self.http.close()

    # -- keys and requests --------------------------------------------------------------

    def key(self, app_id: str = "shop") -> str:
        return self.store.create(app_id)[1]

    def post(self, path: str, body: Any, key: str | None = None, auth: str = "basic",
             headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        hdrs = dict(headers or {})
        if key is not None and auth == "basic":
            hdrs["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        elif key is not None and auth == "bearer":
            hdrs["Authorization"] = f"Bearer {key}"
        if isinstance(body, (dict, list)):
            return self.http.post(self.url + path, json=body, headers=hdrs, timeout=30, **kwargs)
        return self.http.post(self.url + path, data=body, headers=hdrs, timeout=30, **kwargs)

    # -- what reached JetStream ---------------------------------------------------------

    def messages(self, stream: str) -> list[tuple[str, dict[str, str], bytes]]:
        """(subject, headers, data) of every message in ``stream``."""
        return asyncio.run(_read_stream(self.nats_url, stream))

    def batches(self) -> list[EventBatch]:
        return [decode_batch(data) for _, _, data in self.messages(self.streams.events)]

    def rows(self) -> list[dict[str, Any]]:
        return [dict(row) for batch in self.batches() for row in batch.rows]

    def quarantined(self) -> list[QuarantineBatch]:
        return [decode_quarantine(data) for _, _, data in self.messages(self.streams.quarantine)]


async def _read_stream(url: str, stream: str) -> list[tuple[str, dict[str, str], bytes]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.messages == 0:
                break
            msg = await js.get_msg(stream, seq)
            out.append((msg.subject or "", dict(msg.headers or {}), msg.data or b""))
        return out
    finally:
        await nc.close()


def make_settings(tmp_path: Path, nats_url: str, **ingest: Any) -> Settings:
    """Settings of an edge in a test: no drain delay unless asked (stops at once)."""
    return Settings(data_dir=tmp_path, metadata_url=f"sqlite:///{tmp_path / 'meta.db'}",
                    nats={"url": nats_url}, ingest={"port": 0, "drain_delay_s": 0, **ingest})


def track(n: int = 0, **extra: Any) -> dict[str, Any]:
    """A valid track event."""
    return {"type": "track", "event": "Order Completed", "userId": f"u{n}",
            "messageId": f"m-{uuid.uuid4().hex}", "properties": {"revenue": 9.5, "n": n},
            "timestamp": "2026-11-27T09:59:00.000Z", **extra}


def error_shape(resp: requests.Response) -> dict[str, Any]:
    """The one JSON error shape; returns the body."""
    assert resp.headers["Content-Type"].startswith("application/json"), resp.text
    body: dict[str, Any] = resp.json()
    assert isinstance(body, dict)
    for field in ("code", "message", "hint"):
        assert isinstance(body.get(field), str) and body[field], body
    return body
