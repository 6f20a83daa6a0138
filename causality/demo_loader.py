"""Send demo events through the real ingest edge, as an app would (``causality up``)."""

from __future__ import annotations

import asyncio
import base64
import gzip
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp
import orjson
import pyarrow as pa

from causality.errors import CausalityError
from causality.settings import Settings

BATCH_EVENTS = 400
CONCURRENCY = 8
RETRIES = 20


def segment_events(table: pa.Table) -> Iterator[tuple[str, dict[str, Any]]]:
    """(app_id, Segment track call) for each demo row; the row's id becomes messageId."""
    cols = {name: table[name].to_pylist() for name in (
        "app_id", "event_id", "event_type", "category", "user_id", "anonymous_id",
        "session_id", "event_time", "properties", "context")}
    for i in range(table.num_rows):
        event: dict[str, Any] = {
            "type": "track", "event": cols["event_type"][i], "category": cols["category"][i],
            "messageId": cols["event_id"][i], "anonymousId": cols["anonymous_id"][i],
            "timestamp": cols["event_time"][i].isoformat(), "sessionId": cols["session_id"][i],
            "properties": orjson.loads(cols["properties"][i] or "{}"),
            "context": orjson.loads(cols["context"][i] or "{}"),
        }
        if cols["user_id"][i]:
            event["userId"] = cols["user_id"][i]
        yield cols["app_id"][i], event


async def _post(session: aiohttp.ClientSession, url: str, key: str,
                batch: list[dict[str, Any]]) -> None:
    body = gzip.compress(orjson.dumps({"batch": batch}), compresslevel=1)
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Encoding": "gzip",
               "Content-Type": "application/json"}
    for attempt in range(RETRIES):
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                if resp.status == 200:
                    return
                if resp.status not in (429, 503) and resp.status < 500:
                    raise CausalityError(f"ingest refused a demo batch: {await resp.text()}",
                                         code="demo_load_failed",
                                         hint="see the ingest log under the data dir")
                wait = float(resp.headers.get("Retry-After", "1"))
        except aiohttp.ClientError:
            wait = 0.2 * (attempt + 1)
        await asyncio.sleep(min(wait, 5.0))
    raise CausalityError("ingest kept refusing demo batches", code="demo_load_failed",
                         hint="see the ingest log under the data dir")


async def send(ingest_url: str, keys: Mapping[str, str], table: pa.Table) -> int:
    """POST every row of ``table`` to ``/v1/batch`` with the key of its app; returns the count."""
    batches: dict[str, list[dict[str, Any]]] = {}
    queue: asyncio.Queue[tuple[str, list[dict[str, Any]]] | None] = asyncio.Queue(64)
    sent = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        while (item := await queue.get()) is not None:
            await _post(session, f"{ingest_url}/v1/batch", keys[item[0]], item[1])

    async def produce() -> None:
        nonlocal sent
        for app, event in segment_events(table):
            batch = batches.setdefault(app, [])
            batch.append(event)
            if len(batch) >= BATCH_EVENTS:
                await queue.put((app, batch))
                sent += len(batch)
                batches[app] = []
        for app, batch in batches.items():
            if batch:
                await queue.put((app, batch))
                sent += len(batch)
        for _ in range(CONCURRENCY):
            await queue.put(None)

    async with aiohttp.ClientSession() as session, asyncio.TaskGroup() as group:
        # A failing worker cancels the producer too: nothing waits forever on a full queue.
        group.create_task(produce())
        for _ in range(CONCURRENCY):
            group.create_task(worker(session))
    return sent


def send_demo(settings: Settings, n_events: int, seed: int = 42,
              label: str = "demo data (causality up)") -> int:
    """Generate demo events and send them through the configured ingest edge, with a new
    write key per app; returns how many were accepted."""
    from causality.wiring import metadata
    from metadata import KeyStore
    from warehouse.demo import APPS, generate

    store = KeyStore(metadata(settings))
    keys = {app: store.create(app, label=label)[1] for app in APPS}
    table = generate(n_events, seed=seed)
    ing = settings.ingest
    return asyncio.run(send(f"http://{ing.host}:{ing.port}", keys, table))
