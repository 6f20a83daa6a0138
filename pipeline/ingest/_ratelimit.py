"""A token bucket per write key, counting events (not requests).

Each key may send ``rate`` events per second on average and ``burst`` at once. A request of
``n`` events costs ``min(n, burst)`` tokens, so a batch larger than the burst can still pass
when the bucket is full. The buckets live in one process: with ``ingest.workers = N`` a key
may reach up to N times the rate (the limit protects the edge; it is not a billing quota).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from pipeline.ingest._errors import RateLimited

MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, list[float]] = {}  # key id -> [tokens, last refill time]

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key_id: str, events: int) -> None:
        """Spend the tokens for ``events`` or raise :class:`RateLimited` with a Retry-After."""
        if not self.enabled:
            return
        now = self.clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._buckets.clear()
            bucket = self._buckets[key_id] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        cost = min(float(events), self.burst)
        if tokens >= cost:
            bucket[0] = tokens - cost
            return
        bucket[0] = tokens
        wait = max(1, math.ceil((cost - tokens) / self.rate))
        raise RateLimited(
            f"this write key sent more than {self.rate:g} events/s (burst {self.burst:g})",
            code="rate_limited", retry_after=wait,
            hint=f"retry after {wait} s; ask for a higher ingest.rate_limit_events_per_s")
