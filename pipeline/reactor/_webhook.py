"""Webhook delivery over HTTP, no storage: :func:`sign_headers` (Standard Webhooks), :class:`Poster`
(one POST as an :class:`Attempt`, never raising for network or HTTP trouble), when to try again
(:func:`parse_retry_after`, :func:`backoff_s`), and per-destination :class:`Gates` (a concurrency
limit and a :class:`Breaker` each). The outbox's delivery loop composes them.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

from pipeline.reactor._errors import ReactorError

DEFAULT_TIMEOUT_S = 10.0
MAX_RESPONSE_CHARS = 1024
CONNECTOR_LIMIT = 100  # open connections per Poster, all destinations together
BREAKER_FAILURES = 5
BREAKER_COOLDOWN_S = 30.0

OUTCOMES = ("delivered", "http_status", "timeout", "connect_failed", "network_error", "bad_url",
            "denied_address")

try:
    _VERSION = version("causality")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    _VERSION = "1"
USER_AGENT = f"causality-reactor/{_VERSION}"

# C0 and C1 controls and DEL, except tab and newline, become U+FFFD in a stored response.
_CONTROLS = {c: "\ufffd" for c in (*range(32), *range(127, 160)) if c not in (9, 10)}


def sign_headers(secret: str, webhook_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    """The request headers of one delivery, signed per Standard Webhooks with ``whsec_…``.

    A naive ``timestamp`` is UTC. The same id and timestamp must be reused on every retry.
    """
    try:
        signature = Webhook(secret).sign(webhook_id, timestamp, body)
    except (ValueError, EmptyWebhookSecretError) as exc:  # ValueError: binascii.Error
        raise ReactorError("the webhook signing secret is not a whsec_<base64> key",
                           code="bad_secret", hint="rotate the destination's secret") from exc
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(math.floor(timestamp.timestamp())),
            "webhook-signature": signature, "content-type": "application/json",
            "user-agent": USER_AGENT}


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` value (delta-seconds or an HTTP-date).

    None for a missing, malformed or negative value; 0.0 for a date already past. A naive
    ``now`` or date is UTC.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    when, now = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (when, now))
    return max(0.0, (when - now).total_seconds())


def backoff_s(attempt: int, *, base_s: float, cap_s: float, retry_after_s: float | None,
              max_retry_after_s: float, rng: random.Random) -> float:
    """Seconds to wait after ``attempt`` (>= 1) failed attempts.

    ``min(cap_s, base_s * 2**(attempt-1))`` with equal jitter (uniform in [half, full]), and at
    least ``min(retry_after_s, max_retry_after_s)`` when the receiver asked for a pause.
    """
    if attempt < 1 or min(base_s, cap_s, max_retry_after_s) < 0:
        raise ValueError("attempt starts at 1; base_s, cap_s, max_retry_after_s are not negative")
    exponent = attempt - 1
    # 2.0**1024 overflows; by then any positive base is past any cap.
    full = cap_s if exponent >= 1024 else min(cap_s, base_s * 2.0**exponent)
    half = full / 2
    delay = half + rng.random() * half
    if retry_after_s is not None:
        delay = max(delay, min(max(retry_after_s, 0.0), max_retry_after_s))
    return delay


@dataclass(frozen=True)
class Attempt:
    """The result of one POST. 2xx is ok; 410 and a bad URL are final; all else is retryable."""

    ok: bool
    outcome: str  # one of OUTCOMES
    http_status: int | None
    retryable: bool
    retry_after_s: float | None
    latency_ms: float
    response: str  # the start of the response body, control characters replaced


def _failed(outcome: str, started: float, *, retryable: bool = True) -> Attempt:
    return Attempt(ok=False, outcome=outcome, http_status=None, retryable=retryable,
                   retry_after_s=None, latency_ms=(time.perf_counter() - started) * 1000,
                   response="")


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


#: Cloud instance-metadata addresses (AWS, GCP, Azure: 169.254.169.254 and link-local;
#: AWS over IPv6; Alibaba): refused by default, whatever name resolves to them.
DENIED_NETWORKS = ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32")


class DeniedAddress(OSError):
    """A destination's host is, or resolves only to, a denied address."""


def _networks(cidrs: Sequence[str]) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(ip_network(c, strict=False) for c in cidrs)


def _denied(host: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        address = ip_address(host.split("%", 1)[0])  # an IPv6 zone does not change it
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return any((mapped or address) in net for net in networks)


class _GuardedResolver(AbstractResolver):
    """aiohttp's resolver, minus the denied addresses: checked on what a name resolves to when
    connecting, so a name that resolves elsewhere later (DNS rebinding) is caught too."""

    def __init__(self, networks: Sequence[IPv4Network | IPv6Network]):
        self._inner = DefaultResolver()
        self._networks = networks

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if not _denied(r["host"], self._networks)]
        if not allowed:
            raise DeniedAddress(f"{host} resolves only to denied addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


class Poster:
    """POSTs webhooks through one aiohttp session, opened in the first loop that uses it.

    Redirects are not followed, proxies from the environment are not used, and at most about
    ``4 * max_response_chars`` bytes of a response are read. Hosts that are, or resolve only
    to, an address in ``deny_networks`` are refused (outcome ``denied_address``, final). Use
    one Poster per event loop.
    """

    def __init__(self, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_response_chars: int = MAX_RESPONSE_CHARS,
                 connector_limit: int = CONNECTOR_LIMIT,
                 deny_networks: Sequence[str] = DENIED_NETWORKS) -> None:
        self._networks = _networks(deny_networks)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_chars = max_response_chars
        self._max_bytes = max(1, max_response_chars * 4)
        self._connector_limit = connector_limit
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError("a Poster belongs to the event loop that first used it")
        if self._session is None or self._session.closed:
            self._loop = loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connector_limit,
                                               resolver=_GuardedResolver(self._networks)),
                timeout=self._timeout, trust_env=False)
        return self._session

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Attempt:
        """POST ``body`` to ``url``; every network or HTTP problem comes back as an Attempt."""
        started = time.perf_counter()
        if not _is_http_url(url):
            return _failed("bad_url", started, retryable=False)
        if _denied(urlsplit(url).hostname or "", self._networks):  # a literal address
            return _failed("denied_address", started, retryable=False)
        session = self._open()
        try:
            async with session.post(url, data=body, headers=headers,
                                    allow_redirects=False) as resp:
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"),
                                                datetime.now(UTC))
                raw = await self._read_some(resp)
        except TimeoutError:  # also aiohttp's ServerTimeoutError and ConnectionTimeoutError
            return _failed("timeout", started)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, DeniedAddress):
                return _failed("denied_address", started, retryable=False)
            return _failed("connect_failed", started)
        except ValueError:  # aiohttp.InvalidURL: a URL aiohttp refuses that urlsplit took
            return _failed("bad_url", started, retryable=False)
        except (aiohttp.ClientError, OSError):
            return _failed("network_error", started)
        ok = 200 <= status < 300
        return Attempt(ok=ok, outcome="delivered" if ok else "http_status", http_status=status,
                       retryable=not ok and status != 410, retry_after_s=retry_after,
                       latency_ms=(time.perf_counter() - started) * 1000,
                       response=raw.decode(errors="replace")[: self._max_chars]
                       .translate(_CONTROLS))

    async def _read_some(self, resp: aiohttp.ClientResponse) -> bytes:
        """Up to ``_max_bytes`` of the body; what arrived if it breaks (the status decided)."""
        got = bytearray()
        try:
            while len(got) < self._max_bytes and (
                    chunk := await resp.content.read(self._max_bytes - len(got))):
                got += chunk
        except (aiohttp.ClientError, OSError):  # TimeoutError is an OSError
            pass
        return bytes(got)

    async def close(self) -> None:
        """Close the session and its connections; a later post opens a new one."""
        if self._session is not None:
            await self._session.close()
            self._session, self._loop = None, None


class Breaker:
    """A circuit breaker for one destination.

    Closed: every call is allowed. ``failures`` consecutive failures open it for ``cooldown_s``.
    Then it is half-open: one trial call at a time is allowed; success closes it, failure
    opens it again. A trial that never reports is given up after another ``cooldown_s``.
    """

    def __init__(self, *, failures: int = BREAKER_FAILURES,
                 cooldown_s: float = BREAKER_COOLDOWN_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1 or cooldown_s < 0:
            raise ValueError("failures must be at least 1 and cooldown_s not negative")
        self._threshold = failures
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._open_until: float | None = None
        self._trial_since: float | None = None  # when the half-open trial was let through

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        if self._open_until is None:
            return "closed"
        return "open" if self._clock() < self._open_until else "half_open"

    @property
    def open_until(self) -> float | None:
        """The clock time the open state ends, or None when not open."""
        return self._open_until if self.state == "open" else None

    @property
    def refusing(self) -> bool:
        """Whether :meth:`allow` would say no now (it is not asked)."""
        state = self.state
        return state == "open" or (state == "half_open" and not self._trial_expired())

    def remaining_s(self) -> float:
        """Seconds until the open state ends; 0.0 when not open."""
        until = self.open_until
        return 0.0 if until is None else max(0.0, until - self._clock())

    def allow(self) -> bool:
        """Whether a call may go now; in half-open state this takes the one trial."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or not self._trial_expired():
            return False
        self._trial_since = self._clock()
        return True

    def record(self, ok: bool) -> None:
        """Report how a call went."""
        state = self.state
        if ok:
            self._failures, self._open_until, self._trial_since = 0, None, None
        elif state == "open":
            pass  # a call that started before it opened; the cooldown stands
        elif state == "half_open" or self._failures + 1 >= self._threshold:
            self._open_until, self._trial_since = self._clock() + self._cooldown_s, None
        else:
            self._failures += 1

    def _trial_expired(self) -> bool:
        return self._trial_since is None or self._clock() - self._trial_since >= self._cooldown_s


class Gates:
    """Per-destination concurrency limits and breakers, made on first use of an id."""

    def __init__(self, *, concurrency: int, failures: int = BREAKER_FAILURES,
                 cooldown_s: float = BREAKER_COOLDOWN_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self._concurrency = concurrency
        self._new_breaker = partial(Breaker, failures=failures, cooldown_s=cooldown_s, clock=clock)
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._breakers: dict[str, Breaker] = {}

    def semaphore(self, destination_id: str) -> asyncio.Semaphore:
        """The semaphore bounding concurrent posts to one destination."""
        if destination_id not in self._semaphores:
            self._semaphores[destination_id] = asyncio.Semaphore(self._concurrency)
        return self._semaphores[destination_id]

    def breaker(self, destination_id: str) -> Breaker:
        """The breaker of one destination."""
        if destination_id not in self._breakers:
            self._breakers[destination_id] = self._new_breaker()
        return self._breakers[destination_id]

    def open_destinations(self) -> list[str]:
        """Ids whose breaker refuses calls now, sorted."""
        return sorted(d for d, b in self._breakers.items() if b.refusing)
