"""Which app a request is for: its write key, verified against the metadata store's hashes.

The key comes, in this order, from ``Authorization: Basic`` (the key as username, Segment's
way), ``Authorization: Bearer <key>``, or ``writeKey`` in the body. Verified keys are cached in
memory for ``ingest.key_cache_ttl_s`` (so a revoked key keeps working at most that long) and
unknown ones for ``ingest.key_negative_ttl_s`` (so a flood of bad keys does not reach the
database). Concurrent look-ups of one key share a single database query.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Callable

from aiohttp import web

from metadata import ApiKey, KeyStore
from metadata.keys import KEY_PREFIX
from pipeline.ingest._errors import Unauthorized, Unavailable

MAX_KEY_CHARS = 200
MAX_CACHED_KEYS = 10_000
DB_LOOKUPS = 4  # concurrent database queries at most
DB_TIMEOUT_S = 5.0


def header_key(request: web.Request) -> str | None:
    """The write key in the ``Authorization`` header, if there is one."""
    auth = request.headers.get("Authorization")
    if not auth:
        return None
    scheme, _, value = auth.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip()
    if scheme == "basic":
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(
                ":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("the Basic credentials are not valid base64", code="invalid_key",
                               hint="send base64('<write key>:') as Basic credentials") from None
        return user or password
    raise Unauthorized(f"the Authorization scheme {scheme!r} is not supported",
                       code="invalid_key", hint="use Basic (key as username) or Bearer <key>")


class KeyCache:
    """``verify(key)`` → the key's :class:`ApiKey`, or :class:`Unauthorized`."""

    def __init__(self, store: KeyStore, ttl_s: float, negative_ttl_s: float, *,
                 retry_after_s: int = 5, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self.retry_after_s = retry_after_s
        self.clock = clock
        self._cache: dict[str, tuple[ApiKey | None, float]] = {}
        self._pending: dict[str, asyncio.Task[ApiKey | None]] = {}
        self._db_slots = asyncio.Semaphore(DB_LOOKUPS)

    async def verify(self, plain: str | None) -> ApiKey:
        if not plain:
            raise Unauthorized("no write key was sent", code="missing_key",
                               hint="send the write key as the Basic username, as Bearer, "
                                    "or as writeKey in the body")
        if not plain.startswith(KEY_PREFIX) or len(plain) > MAX_KEY_CHARS:
            raise _invalid()
        hit = self._cache.get(plain)
        if hit is not None and hit[1] > self.clock():
            key = hit[0]
        else:
            task = self._pending.get(plain)
            if task is None:
                task = asyncio.create_task(self._lookup(plain))
                self._pending[plain] = task
                task.add_done_callback(lambda _t: self._pending.pop(plain, None))
            key = await asyncio.shield(task)
        if key is None:
            raise _invalid()
        return key

    async def _lookup(self, plain: str) -> ApiKey | None:
        try:
            async with asyncio.timeout(DB_TIMEOUT_S), self._db_slots:
                key = await asyncio.to_thread(self.store.verify, plain)
        except Exception as err:  # the driver's errors, whatever the database; or the timeout
            raise Unavailable(f"the key store cannot be read: {type(err).__name__}",
                              code="auth_unavailable", retry_after=self.retry_after_s,
                              hint="check the metadata database (metadata_url)") from None
        if len(self._cache) >= MAX_CACHED_KEYS:
            self._cache.clear()
        ttl = self.ttl_s if key is not None else self.negative_ttl_s
        self._cache[plain] = (key, self.clock() + ttl)
        return key


def _invalid() -> Unauthorized:
    return Unauthorized("the write key is unknown or revoked", code="invalid_key",
                        hint="create one with `causality keys create --app <app>`")
