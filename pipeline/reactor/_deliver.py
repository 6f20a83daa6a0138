"""Delivery workers: due outbox rows → signed POSTs → each attempt's result, settled in batches.

Every reactor process runs one :class:`Deliverer`; they share the outbox in the metadata store,
where a claim is a lease (a worker that dies leaves its rows to be claimed again when the lease
ends: at least once, duplicates with the same ``webhook-id``). Per destination, at most
``destination_concurrency`` requests are in flight in this process, and a circuit breaker stops
attempts after ``breaker_failures`` consecutive failures for ``breaker_cooldown_s`` (its rows are
not claimed meanwhile; no attempt is counted against them). A failed attempt is retried after a
capped exponential backoff with jitter, at least the receiver's ``Retry-After``; after
``max_attempts``, or at once on 410 Gone, the delivery is dead and becomes a dead letter.
The body is signed anew at every attempt (Standard Webhooks: receivers refuse old timestamps).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy.exc

from metadata.errors import MetadataError
from metadata.outbox import DEAD, DELIVERED, PENDING, Delivery, Outbox, Settled
from metadata.reactions import Destinations, UnknownDestination
from pipeline.config import CLAIM_DEPTH, ReactorSettings
from pipeline.reactor._errors import ReactorError
from pipeline.reactor._metrics import Metrics, log
from pipeline.reactor._webhook import Attempt, Gates, Poster, backoff_s, sign_headers

DESTINATION_TTL_S = 5.0
SETTLE_EVERY_S = 0.05  # results wait at most this long to be written, in one transaction
SETTLE_BATCH = 256


@dataclass(frozen=True)
class Target:
    url: str
    secret: str | None  # None: unreadable (the key is wrong); the attempt fails, is retried
    disabled: bool


class TargetCache:
    """Destinations with their secrets, read from the store at most every few seconds."""

    def __init__(self, destinations: Destinations, ttl_s: float = DESTINATION_TTL_S,
                 clock: Callable[[], float] = time.monotonic):
        self.destinations = destinations
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, tuple[float, Target | None]] = {}

    def fresh(self, destination_id: str) -> tuple[bool, Target | None]:
        """``(True, answer)`` while the cached answer is fresh, else ``(False, None)``: then
        call :meth:`get` (which reads the store) off the event loop."""
        hit = self._cache.get(destination_id)
        if hit is not None and hit[0] > self.clock():
            return True, hit[1]
        return False, None

    def get(self, destination_id: str) -> Target | None:
        """The destination, or None when it does not exist (any more)."""
        now = self.clock()
        hit = self._cache.get(destination_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            dest = self.destinations.get(destination_id)
        except UnknownDestination:
            target: Target | None = None
        else:
            try:
                secret: str | None = self.destinations.secret(destination_id)
            except MetadataError as exc:
                log(logging.ERROR, "destination secret unreadable", code=exc.code,
                    destination_id=destination_id)
                secret = None
            target = Target(dest.url, secret, dest.disabled)
        self._cache[destination_id] = (now + self.ttl_s, target)
        return target


class Deliverer:
    """One process's delivery loop; :meth:`run` until ``stopping`` is set."""

    def __init__(self, outbox: Outbox, targets: TargetCache, options: ReactorSettings,
                 metrics: Metrics, worker: str, wake: asyncio.Event, stopping: asyncio.Event,
                 *, rng: random.Random | None = None):
        self.outbox = outbox
        self.targets = targets
        self.opts = options
        self.metrics = metrics
        self.worker = worker
        self.wake = wake
        self.stopping = stopping
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.gates = Gates(concurrency=options.destination_concurrency,
                           failures=options.breaker_failures,
                           cooldown_s=options.breaker_cooldown_s)
        self.healthy = True  # the store answered the last claim
        self._results: list[Settled] = []
        self._changed = asyncio.Event()
        self._poster: Poster | None = None
        self._backlog = False  # the last claim took every free worker: more may be due
        self._capped: set[str] = set()  # destinations that got their full share last claim
        # Rows one destination may hold claimed: CLAIM_DEPTH times its concurrency, so a claim
        # is worth its transaction; the settings keep lease_s above CLAIM_DEPTH timeouts, so a
        # row waiting for a slot never outlives its lease.
        self._share = options.destination_concurrency * CLAIM_DEPTH
        self._claim_soon = False  # slots of a capped destination freed up
        self._inflight: dict[asyncio.Task[None], Delivery] = {}  # attempts under way
        self._settled_at = 0.0

    async def run(self) -> None:
        """Claim when a local firing woke us, on the poll, or when a full claim left a backlog
        and a quarter of the workers are free; settle results in batches."""
        self._poster = Poster(timeout_s=self.opts.delivery_timeout_s,
                              deny_networks=self.opts.deny_networks)
        next_poll = 0.0
        try:
            while not self.stopping.is_set():
                self._changed.clear()  # before the work: a change during it wakes the pause
                now = time.monotonic()
                free = self.opts.delivery_workers - len(self._inflight)
                if self.wake.is_set() or now >= next_poll or self._claim_soon or (
                        self._backlog and free * 4 >= self.opts.delivery_workers):
                    self.wake.clear()
                    next_poll = now + self.opts.delivery_poll_s
                    await self._claim()
                if self._results and (not self._inflight or len(self._results) >= SETTLE_BATCH
                                      or now - self._settled_at >= SETTLE_EVERY_S):
                    await self._settle()
                timeout = next_poll - time.monotonic()
                if self._results:
                    timeout = min(timeout, self._settled_at + SETTLE_EVERY_S - time.monotonic())
                await self._pause(max(0.0, timeout))
            await self._drain()
        finally:
            await self._poster.close()

    async def _claim(self) -> None:
        free = self.opts.delivery_workers - len(self._inflight)
        if free <= 0:
            return
        open_ids = self.gates.open_destinations()
        self.metrics.breakers_open.set(len(open_ids))
        busy = self._busy()  # as the claim sees it; tasks may finish while it runs
        self._claim_soon = False
        try:
            claimed = await asyncio.to_thread(
                self.outbox.claim, self.worker, limit=free, lease_s=self.opts.lease_s,
                per_destination=self._share, busy=busy, exclude_destinations=open_ids)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            self._store_failed("claim", exc)
            return
        self.healthy = True
        per: Counter[str] = Counter(d.destination_id for d in claimed)
        # A destination that got all the room it was offered, or had none (it was full and
        # left out), may have more due: it stays capped until a claim finds it short.
        self._capped = {d for d in {*per, *busy} if per[d] + busy.get(d, 0) >= self._share}
        self._backlog = len(claimed) >= free
        for delivery in claimed:
            task = asyncio.create_task(self._deliver(delivery))
            self._inflight[task] = delivery
            task.add_done_callback(self._done)
        now_busy = self._busy()
        if any(now_busy[d] * 4 <= self._share * 3 for d in self._capped):
            self._claim_soon = True  # its slots freed up while the claim ran

    def _busy(self) -> Counter[str]:
        """Attempts under way per destination."""
        return Counter(d.destination_id for d in self._inflight.values())

    def _done(self, task: asyncio.Task[None]) -> None:
        delivery = self._inflight.pop(task, None)
        # a capped destination with a quarter of its slots free is worth a claim
        if delivery is not None and delivery.destination_id in self._capped and (
                self._busy()[delivery.destination_id] * 4 <= self._share * 3):
            self._claim_soon = True
        self._changed.set()
        if not task.cancelled() and task.exception() is not None:
            log(logging.ERROR, "delivery task failed", exc=task.exception())

    async def _pause(self, timeout: float) -> None:
        """Until a local firing, a finished attempt (when it matters), stop, or ``timeout``."""
        events = [self.wake, self.stopping]
        if self._inflight or self._results:
            events.append(self._changed)
        waits = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _settle(self) -> None:
        if not self._results:
            return
        batch, self._results = self._results, []
        self._settled_at = time.monotonic()
        try:
            await asyncio.to_thread(self.outbox.settle, batch)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            # The leases run out and the rows are attempted again: at least once, never lost.
            self._store_failed("settle", exc)

    async def _drain(self) -> None:
        """Let started attempts finish (half the shutdown deadline); hand back the rest at once
        (released, due now) so another worker need not wait out their leases."""
        deadline = self.opts.shutdown_timeout_s / 2
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=deadline)
        left = list(self._inflight.items())
        for task, _ in left:
            task.cancel()
        await asyncio.gather(*(task for task, _ in left), return_exceptions=True)
        now = time.time()
        for task, d in left:
            if task.cancelled():
                self._results.append(Settled(d.delivery_id, d.claim, "released", "stopped",
                                             next_at=now))
        await self._settle()

    def _store_failed(self, what: str, exc: Exception) -> None:
        self.healthy = False
        self.metrics.failed.labels("store_unavailable").inc()
        log(logging.WARNING, f"outbox {what} failed; retrying", error=repr(exc))

    async def _deliver(self, d: Delivery) -> None:
        try:
            result = await self._attempt(d)
        except Exception as exc:  # e.g. the store failing while reading the destination
            log(logging.ERROR, "delivery attempt failed", exc=exc, delivery_id=d.delivery_id)
            result = self._settled(d, Attempt(ok=False, outcome="internal_error",
                                              http_status=None, retryable=True,
                                              retry_after_s=None, latency_ms=0.0,
                                              response=type(exc).__name__))
        self._results.append(result)
        status = "" if result.http_status is None else str(result.http_status)
        if result.status != "released":
            self.metrics.deliveries.labels(result.outcome, status).inc()
        if result.status == DELIVERED:
            self.metrics.delivery_latency.observe(max(0.0, time.time() - d.fired_at))
        elif result.status == DEAD:
            self.metrics.dead_letters.labels("delivery", result.code or result.outcome).inc()

    async def _attempt(self, d: Delivery) -> Settled:
        cached, target = self.targets.fresh(d.destination_id)
        if not cached:
            target = await asyncio.to_thread(self.targets.get, d.destination_id)
        if target is None:
            return self._dead(d, "unknown_destination", "the destination was deleted")
        if target.disabled:  # disabled since the claim: its rows wait until it is enabled
            return Settled(d.delivery_id, d.claim, "released", "destination_disabled",
                           next_at=time.time() + DESTINATION_TTL_S)
        body = d.payload.encode()
        try:
            if target.secret is None:
                raise ReactorError("unreadable", code="secret_unreadable")
            headers = sign_headers(target.secret, d.webhook_id, datetime.now(UTC), body)
        except ReactorError as exc:  # the key or the stored secret is wrong: retried, logged
            return self._settled(d, Attempt(ok=False, outcome=exc.code, http_status=None,
                                            retryable=True, retry_after_s=None,
                                            latency_ms=0.0, response=""))
        breaker = self.gates.breaker(d.destination_id)
        async with self.gates.semaphore(d.destination_id):
            if self.stopping.is_set():  # queued behind the slot when the stop came
                return Settled(d.delivery_id, d.claim, "released", "stopped", next_at=time.time())
            if not breaker.allow():  # asked with the slot held: attempts queued behind an
                return Settled(  # opening breaker do not go out
                    d.delivery_id, d.claim, "released", "breaker_open",
                    next_at=time.time() + max(breaker.remaining_s(), 0.1))
            attempt = await self._post(target.url, headers, body)
        breaker.record(attempt.ok)
        return self._settled(d, attempt)

    async def _post(self, url: str, headers: dict[str, str], body: bytes) -> Attempt:
        assert self._poster is not None
        return await self._poster.post(url, headers, body)

    def _settled(self, d: Delivery, attempt: Attempt) -> Settled:
        status, code, next_at = PENDING, "", 0.0
        made = d.attempts + 1
        if attempt.ok:
            status = DELIVERED
        elif not attempt.retryable:
            status, code = DEAD, "gone" if attempt.http_status == 410 else attempt.outcome
        elif made >= self.opts.max_attempts:
            status, code = DEAD, "retries_exhausted"
        else:
            next_at = time.time() + backoff_s(
                made, base_s=self.opts.backoff_base_s, cap_s=self.opts.backoff_cap_s,
                retry_after_s=attempt.retry_after_s,
                max_retry_after_s=self.opts.max_retry_after_s, rng=self.rng)
        return Settled(d.delivery_id, d.claim, status, attempt.outcome, next_at=next_at,
                       http_status=attempt.http_status, latency_ms=attempt.latency_ms,
                       response=attempt.response, code=code, attempt=made)

    @staticmethod
    def _dead(d: Delivery, code: str, why: str) -> Settled:
        return Settled(d.delivery_id, d.claim, DEAD, code, code=code, response=why,
                       attempt=d.attempts + 1)
