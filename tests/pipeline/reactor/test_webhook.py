"""Webhook delivery (pipeline.reactor._webhook) against a real receiver on loopback.

Nothing here asserts on timings: waits have generous timeouts as safety nets, breakers run on a
hand-driven clock, and concurrency is checked with counters.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from pipeline.reactor._errors import ReactorError
from pipeline.reactor._webhook import (
    OUTCOMES,
    Attempt,
    Breaker,
    Gates,
    Poster,
    backoff_s,
    parse_retry_after,
    sign_headers,
)
from tests.fixtures.webhooks import Receiver, new_secret

MakeReceiver = Callable[..., Receiver]
BODY = b'{"event": "signup", "n": 1}'
WAIT_S = 10.0  # a safety net for waits, never an assertion


def post(receiver: Receiver, *, body: bytes = BODY, webhook_id: str = "msg_1",
         **poster: Any) -> Attempt:
    """One signed POST to ``receiver`` through a fresh Poster."""
    return asyncio.run(_post(receiver.url, receiver.secret, body, webhook_id, **poster))


async def _post(url: str, secret: str, body: bytes, webhook_id: str, **poster: Any) -> Attempt:
    client = Poster(**poster)
    try:
        return await client.post(url, sign_headers(secret, webhook_id, datetime.now(UTC), body),
                                 body)
    finally:
        await client.close()


# -- signing ---------------------------------------------------------------------------------


def test_signed_headers_verify_with_the_library() -> None:
    secret, now = new_secret(), datetime.now(UTC)
    headers = sign_headers(secret, "msg_42", now, BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature",
                            "content-type", "user-agent"}
    assert headers["webhook-id"] == "msg_42"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("causality-reactor/")
    assert Webhook(secret).verify(BODY, headers) == {"event": "signup", "n": 1}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)


def test_a_naive_timestamp_is_utc() -> None:
    secret, now = new_secret(), datetime.now(UTC)
    assert sign_headers(secret, "m", now.replace(tzinfo=None), BODY) == \
        sign_headers(secret, "m", now, BODY)


@pytest.mark.parametrize("secret", ["whsec_", "whsec_a"])
def test_a_bad_secret_is_a_reactor_error(secret: str) -> None:
    with pytest.raises(ReactorError) as info:
        sign_headers(secret, "m", datetime.now(UTC), BODY)
    assert info.value.code == "bad_secret"


# -- posting -------------------------------------------------------------------------------


def test_a_delivery_arrives_verified(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    attempt = post(receiver, webhook_id="msg_7")
    assert (attempt.ok, attempt.outcome, attempt.http_status, attempt.retryable) == \
        (True, "delivered", 200, False)
    assert attempt.response == "ok"
    assert attempt.retry_after_s is None
    assert attempt.latency_ms >= 0
    [got] = receiver.wait_for(1, WAIT_S)
    assert (got.webhook_id, got.body, got.json, got.verified, got.status_answered) == \
        ("msg_7", BODY, {"event": "signup", "n": 1}, True, 200)
    assert isinstance(got.timestamp, int)
    assert receiver.verified() == [got]


def test_a_wrong_secret_is_answered_401(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    signed_with = receiver.secret
    receiver.secret = new_secret()
    attempt = asyncio.run(_post(receiver.url, signed_with, BODY, "m"))
    assert (attempt.ok, attempt.outcome, attempt.http_status, attempt.retryable) == \
        (False, "http_status", 401, True)
    [got] = receiver.wait_for(1, WAIT_S)
    assert (got.verified, got.status_answered) == (False, 401)
    assert receiver.verified() == []


@pytest.mark.parametrize(("status", "ok", "retryable"), [
    (200, True, False), (202, True, False), (204, True, False),
    (400, False, True), (404, False, True), (408, False, True), (429, False, True),
    (500, False, True), (503, False, True),
    (410, False, False),  # the receiver says stop
])
def test_statuses_map_to_attempts(make_receiver: MakeReceiver, status: int, ok: bool,
                                  retryable: bool) -> None:
    receiver = make_receiver()
    receiver.respond(status)
    attempt = post(receiver)
    assert (attempt.ok, attempt.http_status, attempt.retryable) == (ok, status, retryable)
    assert attempt.outcome == ("delivered" if ok else "http_status")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_not_followed(make_receiver: MakeReceiver, status: int) -> None:
    receiver = make_receiver()
    receiver.respond(status)
    attempt = post(receiver)
    assert (attempt.ok, attempt.outcome, attempt.http_status, attempt.retryable) == \
        (False, "http_status", status, True)
    assert len(receiver.wait_for(1, WAIT_S)) == 1  # its Location would be a second request


def test_a_script_answers_in_order_then_the_default(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    receiver.respond(202)
    receiver.script([500, 503, 200])
    statuses = [post(receiver, webhook_id=f"m{i}").http_status for i in range(4)]
    assert statuses == [500, 503, 200, 202]
    assert [r.status_answered for r in receiver.wait_for(4, WAIT_S)] == statuses


def test_retry_after_in_seconds_is_read(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    receiver.respond(429, retry_after="7")
    attempt = post(receiver)
    assert (attempt.http_status, attempt.retryable, attempt.retry_after_s) == (429, True, 7.0)


def test_retry_after_as_a_date_is_read(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    later = datetime.now(UTC) + timedelta(hours=1)
    receiver.respond(503, retry_after=format_datetime(later, usegmt=True))
    attempt = post(receiver)
    assert attempt.retry_after_s is not None
    assert 0 < attempt.retry_after_s <= 3600
    receiver.respond(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    assert post(receiver).retry_after_s == 0.0
    receiver.respond(503, retry_after="soon")
    assert post(receiver).retry_after_s is None


def test_a_slow_receiver_is_a_timeout(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    receiver.respond(200, delay_s=600)  # ended by the receiver's stop
    attempt = post(receiver, timeout_s=0.2)
    assert (attempt.ok, attempt.outcome, attempt.http_status, attempt.retryable) == \
        (False, "timeout", None, True)
    receiver.wait_for(1, WAIT_S)  # it did arrive


def test_a_receiver_down_then_up(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    url = receiver.url
    receiver.stop()
    attempt = post(receiver)
    assert (attempt.ok, attempt.outcome, attempt.http_status, attempt.retryable) == \
        (False, "connect_failed", None, True)
    receiver.start()
    assert receiver.url == url
    assert post(receiver).outcome == "delivered"
    assert len(receiver.wait_for(1, WAIT_S)) == 1


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/x", "http://", "/hook",
                                 "http://[::1/x"])
def test_a_bad_url_is_final_not_raised(url: str) -> None:
    attempt = asyncio.run(_post(url, new_secret(), BODY, "m"))
    assert (attempt.ok, attempt.outcome, attempt.retryable) == (False, "bad_url", False)


def test_the_response_is_capped_and_control_characters_replaced(
        make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    receiver.respond(500, body=b"a\x00b\nc\td\x1b\xff" + b"z" * 100_000)
    attempt = post(receiver, max_response_chars=10)
    assert attempt.response == "a\ufffdb\nc\td\ufffd\ufffdz"


def test_a_poster_serves_one_loop_at_a_time(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    client = Poster()

    async def once() -> Attempt:
        headers = sign_headers(receiver.secret, "m", datetime.now(UTC), BODY)
        return await client.post(receiver.url, headers, BODY)

    async def scenario() -> Attempt:
        try:
            first = await once()
            with pytest.raises(RuntimeError):  # another loop, while this one owns the session
                await asyncio.to_thread(asyncio.run, once())
            return first
        finally:
            await client.close()

    assert asyncio.run(scenario()).ok
    assert asyncio.run(scenario()).ok  # closed, so a new loop may take it


def test_outcomes_are_the_documented_codes() -> None:
    assert OUTCOMES == ("delivered", "http_status", "timeout", "connect_failed",
                        "network_error", "bad_url", "denied_address")


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data",
                                 "http://[fd00:ec2::254]/", "http://[::ffff:169.254.169.254]/",
                                 "http://100.100.100.200/"])
def test_cloud_metadata_addresses_are_refused_by_default(url: str) -> None:
    attempt = asyncio.run(_post(url, new_secret(), BODY, "m"))
    assert (attempt.outcome, attempt.retryable) == ("denied_address", False)


def test_a_name_resolving_only_to_denied_addresses_is_refused(
        make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    by_name = receiver.url.replace("127.0.0.1", "localhost")
    allowed = asyncio.run(_post(by_name, receiver.secret, BODY, "m", deny_networks=()))
    assert allowed.ok
    denied = asyncio.run(_post(by_name, receiver.secret, BODY, "m",
                               deny_networks=("127.0.0.0/8", "::1/128")))
    assert (denied.outcome, denied.retryable) == ("denied_address", False)
    assert len(receiver.received) == 1


# -- when to try again ---------------------------------------------------------------------


NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0), (" 5 ", 5.0), ("0", 0.0), (None, None), ("", None), ("-1", None),
    ("1.5", None), ("soon", None), ("\u0661", None),  # an Arabic-Indic digit is not a DIGIT
    ("Sun, 01 Nov 2026 12:02:00 GMT", 120.0), ("Sun, 01 Nov 2026 11:00:00 GMT", 0.0),
    ("Sun, 01 Nov 2026 12:00:30 -0000", 30.0), ("9" * 400, None),
])
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@given(st.text(max_size=60))
def test_parse_retry_after_never_raises_nor_goes_negative(value: str) -> None:
    seconds = parse_retry_after(value, NOW)
    assert seconds is None or seconds >= 0


@given(attempt=st.integers(1, 10**6), base=st.floats(0.001, 100), cap=st.floats(0, 86_400),
       retry_after=st.none() | st.floats(0, 10**6), max_retry_after=st.floats(0, 86_400),
       seed=st.integers(0, 2**32))
@example(attempt=10**6, base=1.0, cap=3600.0, retry_after=None, max_retry_after=600.0, seed=0)
@example(attempt=1025, base=0.5, cap=60.0, retry_after=10**6, max_retry_after=600.0, seed=1)
def test_backoff_stays_within_its_bounds(attempt: int, base: float, cap: float,
                                         retry_after: float | None, max_retry_after: float,
                                         seed: int) -> None:
    delay = backoff_s(attempt, base_s=base, cap_s=cap, retry_after_s=retry_after,
                      max_retry_after_s=max_retry_after, rng=random.Random(seed))
    full = float(min(Fraction(cap), Fraction(base) * 2 ** (attempt - 1)))  # exact, no overflow
    floor = 0.0 if retry_after is None else min(retry_after, max_retry_after)
    assert full / 2 <= delay
    assert floor <= delay <= max(full, floor)


def test_backoff_is_reproducible_and_rejects_attempt_zero() -> None:
    kwargs: dict[str, Any] = {"base_s": 1.0, "cap_s": 60.0, "retry_after_s": None,
                              "max_retry_after_s": 600.0}
    first = [backoff_s(n, rng=random.Random(3), **kwargs) for n in range(1, 10)]
    assert first == [backoff_s(n, rng=random.Random(3), **kwargs) for n in range(1, 10)]
    with pytest.raises(ValueError):
        backoff_s(0, rng=random.Random(3), **kwargs)


# -- breakers and gates --------------------------------------------------------------------


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_breaker_opens_after_consecutive_failures() -> None:
    clock = Clock()
    breaker = Breaker(failures=3, cooldown_s=30, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record(False)
    breaker.record(True)  # a success resets the count
    for _ in range(2):
        breaker.record(False)
    assert (breaker.state, breaker.open_until, breaker.remaining_s()) == ("closed", None, 0.0)
    breaker.record(False)
    assert (breaker.state, breaker.open_until, breaker.remaining_s()) == ("open", 1030.0, 30.0)
    assert not breaker.allow()
    assert breaker.refusing
    clock.now += 10
    assert breaker.remaining_s() == 20.0
    breaker.record(False)  # a call started before it opened: the cooldown stands
    assert breaker.open_until == 1030.0


def test_a_half_open_breaker_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = Breaker(failures=1, cooldown_s=30, clock=clock)
    breaker.record(False)
    clock.now += 30
    assert (breaker.state, breaker.open_until, breaker.refusing) == ("half_open", None, False)
    assert breaker.allow()
    assert not breaker.allow()  # one trial at a time
    assert breaker.refusing
    breaker.record(False)  # the trial failed: another cooldown
    assert (breaker.state, breaker.open_until) == ("open", clock.now + 30)
    clock.now += 30
    assert breaker.allow()
    breaker.record(True)  # the trial worked
    assert breaker.state == "closed"
    assert all(breaker.allow() for _ in range(5))


def test_a_trial_that_never_reports_is_given_up_after_a_cooldown() -> None:
    clock = Clock()
    breaker = Breaker(failures=1, cooldown_s=30, clock=clock)
    breaker.record(False)
    clock.now += 30
    assert breaker.allow()
    clock.now += 29
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_gates_keep_one_breaker_per_destination() -> None:
    clock = Clock()
    gates = Gates(concurrency=2, failures=2, cooldown_s=30, clock=clock)
    assert gates.breaker("a") is gates.breaker("a")
    assert gates.semaphore("a") is gates.semaphore("a")
    for _ in range(2):
        gates.breaker("a").record(False)
    gates.breaker("b").record(False)
    assert gates.open_destinations() == ["a"]
    assert gates.breaker("b").allow()
    clock.now += 30
    assert gates.open_destinations() == []  # half-open: a trial may go
    assert gates.breaker("a").allow()
    assert gates.open_destinations() == ["a"]  # the trial is out


def test_gates_bound_one_destination_without_blocking_another(
        make_receiver: MakeReceiver) -> None:
    slow, fast = make_receiver(), make_receiver()
    gates = Gates(concurrency=2, failures=5, cooldown_s=30)
    inside = peak = entered = 0

    async def scenario() -> tuple[int, Attempt, list[Attempt]]:
        nonlocal inside, peak, entered
        client = Poster()
        release, two_inside = asyncio.Event(), asyncio.Event()

        async def deliver(receiver: Receiver, webhook_id: str) -> Attempt:
            headers = sign_headers(receiver.secret, webhook_id, datetime.now(UTC), BODY)
            return await client.post(receiver.url, headers, BODY)

        async def to_slow(i: int) -> Attempt:
            nonlocal inside, peak, entered
            async with gates.semaphore("slow"):
                inside, entered = inside + 1, entered + 1
                peak = max(peak, inside)
                if inside == 2:
                    two_inside.set()
                await release.wait()
                try:
                    return await deliver(slow, f"s{i}")
                finally:
                    inside -= 1

        tasks = [asyncio.create_task(to_slow(i)) for i in range(6)]
        await asyncio.wait_for(two_inside.wait(), WAIT_S)
        async with gates.semaphore("fast"):  # not blocked by the full "slow" gate
            fast_attempt = await deliver(fast, "f")
        entered_while_held = entered
        release.set()
        slow_attempts = await asyncio.gather(*tasks)
        await client.close()
        return entered_while_held, fast_attempt, list(slow_attempts)

    entered_while_held, fast_attempt, slow_attempts = asyncio.run(scenario())
    assert entered_while_held == 2
    assert fast_attempt.ok
    assert all(a.ok for a in slow_attempts)
    assert (peak, entered) == (2, 6)
    assert len(slow.wait_for(6, WAIT_S)) == 6
