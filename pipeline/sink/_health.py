"""Is the warehouse storage reachable? A canary write (:meth:`Storage.probe`) answers.

A failed write is an *outage* when the canary fails too: the sink then holds its messages
(heartbeats keep them from redelivery), fetches nothing more, answers ``/readyz`` with
``storage_unavailable`` and retries with a capped backoff until the canary passes or the sink
stops. Nothing is dead-lettered for an outage. When the canary passes, the failure was the
data's own (:mod:`pipeline.sink._flush` isolates the messages).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipeline.sink._config import SinkConfig
from pipeline.sink._log import log
from pipeline.sink._metrics import Metrics
from pipeline.sink._wait import set_within
from warehouse.storage import StorageError

PROBE_TIMEOUT_S = 10.0  # a canary that takes longer counts as unreachable storage
RETRY_MIN_S = 0.25  # the first pause of the backoff; doubled up to sink.storage_retry_max_s


class StorageHealth:
    def __init__(self, config: SinkConfig, metrics: Metrics):
        self.config = config
        self.opts = config.options
        self.metrics = metrics
        self.down_since: float | None = None  # monotonic; None while reachable
        self.last_error = ""
        # Its own thread: a canary must not queue behind writes hanging on the same storage.
        self._io = ThreadPoolExecutor(1, thread_name_prefix="sink-probe")

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def close(self) -> None:
        self._io.shutdown(wait=False, cancel_futures=True)

    async def reachable(self, stopping: asyncio.Event | None = None) -> bool:
        """One canary write, at most ``PROBE_TIMEOUT_S``; False at once when ``stopping``."""
        loop = asyncio.get_running_loop()
        canary: asyncio.Future[Any] = loop.run_in_executor(
            self._io, self.config.storage.probe, self.config.sink_id)
        stop: asyncio.Future[Any] = asyncio.ensure_future((stopping or asyncio.Event()).wait())
        try:
            await asyncio.wait({canary, stop}, timeout=PROBE_TIMEOUT_S,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not canary.done():
            canary.add_done_callback(_seen)
            if not stop.cancelled() and stop.done():
                self.last_error = "stopped during the canary write"
            else:
                self.last_error = f"the canary write took over {PROBE_TIMEOUT_S:g} s"
            return False
        try:
            canary.result()
        except StorageError as err:
            self.last_error = err.message
            return False
        return True

    def lost(self, error: BaseException) -> None:
        """A write failed and the canary too: an outage (logged once, until :meth:`back`)."""
        if self.down_since is not None:
            return
        self.down_since = time.monotonic()
        self.metrics.storage_up.set(0)
        self.metrics.storage_outages.inc()
        log(logging.WARNING, "warehouse storage unreachable: holding messages, retrying",
            error=f"{error}", probe=self.last_error, uri=self.config.storage.uri)

    def back(self) -> None:
        if self.down_since is None:
            return
        log(logging.INFO, "warehouse storage reachable again",
            outage_s=round(time.monotonic() - self.down_since, 1))
        self.down_since = None
        self.metrics.storage_up.set(1)

    async def wait_back(self, stopping: asyncio.Event) -> bool:
        """Probe with a capped backoff until the storage takes writes (True) or the sink
        stops (False)."""
        pause = RETRY_MIN_S
        while not await set_within(stopping, pause):
            if await self.reachable(stopping):
                return True
            pause = min(2 * pause, self.opts.storage_retry_max_s)
        return False


def _seen(future: asyncio.Future[Any]) -> None:
    """A canary given up on: its outcome, whenever it comes, is not an error to report."""
    if not future.cancelled():
        future.exception()
