"""A small real HTTP server speaking the ingest edge's /v1/batch contract, for SDK tests.

It decompresses gzip, checks Basic auth, records every batch, and can be told to fail:
scripted statuses (503, 429 + Retry-After, 401, ...), per-event ``invalid`` results, a
whole-batch 400 when a poison event is present, 413 above a batch size, or to hang.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Event = dict[str, Any]


class IngestStub:
    def __init__(self, write_key: str = "test-key", port: int = 0) -> None:
        self.write_key = write_key
        self.lock = threading.Lock()
        self.batches: list[list[Event]] = []  # every batch answered 200
        self.requests: list[tuple[int, int]] = []  # (status answered, events in request)
        self.raw_bodies: list[bytes] = []  # uncompressed bodies, as received
        self.headers: list[dict[str, str]] = []
        self.scripted: deque[tuple[int, dict[str, str]]] = deque()
        self.is_invalid: Callable[[Event], str | None] = lambda event: None
        self.is_poison: Callable[[Event], bool] = lambda event: False
        self.max_events: int | None = None  # 413 above this
        self.hang = threading.Event()  # set: requests block until `release` is set
        self.release = threading.Event()
        self.hung = threading.Event()  # a request is blocked
        self._seen: set[str] = set()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_POST(self) -> None:
                stub._handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    # -- scripting -----------------------------------------------------------------------

    def fail_next(self, count: int, status: int, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self.lock:
            self.scripted.extend([(status, headers)] * count)

    # -- inspection ----------------------------------------------------------------------

    def events(self) -> list[Event]:
        with self.lock:
            return [event for batch in self.batches for event in batch]

    def message_ids(self) -> list[str]:
        return [event["messageId"] for event in self.events()]

    def statuses(self) -> list[int]:
        with self.lock:
            return [status for status, _ in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    # -- the endpoint --------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        body = req.rfile.read(int(req.headers.get("Content-Length", 0)))
        if req.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        doc = json.loads(body)
        batch: list[Event] = doc["batch"]
        with self.lock:
            self.raw_bodies.append(body)
            self.headers.append(dict(req.headers))
        if self.hang.is_set():
            self.hung.set()
            self.release.wait()
        expected = "Basic " + base64.b64encode(f"{self.write_key}:".encode()).decode()
        status, headers, reply = self._decide(req.headers.get("Authorization"), expected, batch)
        with self.lock:
            self.requests.append((status, len(batch)))
        data = json.dumps(reply).encode()
        req.send_response(status)
        for name, value in {**headers, "Content-Type": "application/json"}.items():
            req.send_header(name, value)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _decide(
        self, auth: str | None, expected: str, batch: list[Event]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self.lock:
            if self.scripted:
                status, headers = self.scripted.popleft()
                return status, headers, _error(status)
        if auth != expected:
            return 401, {}, _error(401)
        if self.max_events is not None and len(batch) > self.max_events:
            return 413, {}, _error(413)
        if any(self.is_poison(event) for event in batch):
            return 400, {}, _error(400)
        results = []
        with self.lock:
            self.batches.append(batch)
            for event in batch:
                reason = self.is_invalid(event)
                if reason:
                    results.append(
                        {"messageId": event["messageId"], "status": "invalid", "reason": reason}
                    )
                elif event["messageId"] in self._seen:
                    results.append({"messageId": event["messageId"], "status": "duplicate"})
                else:
                    self._seen.add(event["messageId"])
                    results.append({"messageId": event["messageId"], "status": "accepted"})
        return 200, {}, {"results": results}


def _error(status: int) -> dict[str, str]:
    codes = {
        400: "malformed",
        401: "unauthorized",
        403: "forbidden",
        413: "too_large",
        429: "rate_limited",
        503: "unavailable",
    }
    code = codes.get(status, "error")
    return {"code": code, "message": f"stub says {code}", "hint": f"stub hint for {status}"}
