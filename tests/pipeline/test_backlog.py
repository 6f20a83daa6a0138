"""The backlog of a durable consumer (pipeline.backlog): the pure parts, then against a real
nats-server with ``now`` given, so the ages are exact and nothing waits for the clock."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, RawStreamMsg, SequenceInfo

from pipeline.backlog import (
    Backlog,
    BacklogAlarm,
    BacklogError,
    backlog_of,
    filter_subjects,
    level_for,
    measure,
    survey,
)
from pipeline.bus import Streams, ensure_streams, stream_configs
from pipeline.natsd import NatsServer

DAY_S = 24 * 3600.0
WEEK_S = 7 * DAY_S
T = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _info(pending: int = 0, ack_pending: int = 0, floor: int = 0) -> ConsumerInfo:
    return ConsumerInfo(name="sink", stream_name="EVENTS", config=ConsumerConfig(),
                        created=T, ack_floor=SequenceInfo(consumer_seq=0, stream_seq=floor),
                        num_pending=pending, num_ack_pending=ack_pending)


def _backlog(age_s: float, max_age_s: float = WEEK_S) -> Backlog:
    return Backlog("EVENTS", "sink", 10, 2, 5, T, age_s, max_age_s)


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[int, str, dict[str, Any]]] = []

    def __call__(self, level: int, msg: str, exc: BaseException | None = None,
                 **fields: Any) -> None:
        self.lines.append((level, msg, fields))


def test_backlog_of_ages_the_oldest_message_against_now() -> None:
    oldest = RawStreamMsg(seq=7, time=T)
    got = backlog_of(_info(pending=4, ack_pending=1, floor=6), WEEK_S, oldest,
                     T + timedelta(days=3, hours=12))
    assert (got.oldest_seq, got.age_s, got.pending, got.ack_pending) == (7, 3.5 * DAY_S, 4, 1)
    assert got.fraction == 0.5
    assert got.detail() == {"oldest_unconsumed_age_s": 3.5 * DAY_S,
                            "stream_max_age_s": WEEK_S, "fraction": 0.5}
    assert got.to_dict()["oldest_time"] == T.isoformat()


def test_nothing_unconsumed_is_age_zero_and_no_max_age_no_fraction() -> None:
    none = backlog_of(_info(), WEEK_S, None, T)
    assert (none.age_s, none.oldest_seq, none.fraction) == (0.0, None, 0.0)
    assert backlog_of(_info(), 0.0, None, T).fraction is None
    future = backlog_of(_info(pending=1), WEEK_S, RawStreamMsg(seq=1, time=T), T - timedelta(1))
    assert future.age_s == 0.0  # a clock behind the server's is not a negative age


def test_levels_by_fraction() -> None:
    assert [level_for(f) for f in (None, 0.0, 0.49, 0.5, 0.89, 0.9, 1.2)] == [
        0, 0, 0, logging.WARNING, logging.WARNING, logging.ERROR, logging.ERROR]
    assert level_for(0.3, warn_fraction=0.25, error_fraction=0.6) == logging.WARNING


def test_filter_subjects_of_a_consumer() -> None:
    assert filter_subjects(ConsumerConfig()) == [">"]
    assert filter_subjects(ConsumerConfig(filter_subject="events.*")) == ["events.*"]
    assert filter_subjects(ConsumerConfig(filter_subjects=["a.x", "a.y"])) == ["a.x", "a.y"]


def test_the_alarm_speaks_on_crossing_then_every_repeat_then_once_when_back() -> None:
    log = _Log()
    alarm = BacklogAlarm(log, warn_fraction=0.5, error_fraction=0.9, repeat_s=600)
    seen = [alarm.check(_backlog(age * DAY_S), now_s=at) for age, at in (
        (1, 0), (4, 10), (4.5, 300), (5, 620), (6.5, 700), (6.6, 800), (2, 900), (1, 1000))]
    assert seen == [0, logging.WARNING, 0, logging.WARNING, logging.ERROR, 0, logging.INFO, 0]
    level, msg, fields = log.lines[0]
    assert level == logging.WARNING and "deletes them unread" in msg
    assert fields["durable"] == "sink" and fields["fraction"] == round(4 / 7, 4)
    assert fields["stream_max_age_s"] == WEEK_S and fields["warn_fraction"] == 0.5
    assert BacklogAlarm(log).check(_backlog(DAY_S * 100, max_age_s=0.0)) == 0  # kept for ever


# -- against a real server --------------------------------------------------------------------
async def _setup(url: str, *consumers: ConsumerConfig) -> tuple[Any, JetStreamContext, Streams]:
    streams = Streams.prefixed(f"b{uuid.uuid4().hex[:8]}")
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=10)
    await ensure_streams(js, stream_configs(streams, WEEK_S))
    for config in consumers:
        await js.add_consumer(streams.events, config)
    return nc, js, streams


def _durable(name: str, subject: str | None = None) -> ConsumerConfig:
    return ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT,
                          filter_subject=subject)


def test_measure_follows_the_ack_floor_deletions_and_the_filter(nats_server: NatsServer) -> None:
    async def go() -> None:
        nc, js, s = await _setup(nats_server.url, _durable("all"))
        try:
            assert (await measure(js, s.events, "all", now=T)).age_s == 0.0  # empty stream
            await js.add_consumer(s.events, _durable("news", s.events_for("news")))
            for app in ("shop", "shop", "news", "shop"):
                await js.publish(s.events_for(app), b"{}")
            stamps = {seq: (await js.get_msg(s.events, seq)).time for seq in (1, 2, 3, 4)}
            first = stamps[1]
            assert first is not None

            day3 = await measure(js, s.events, "all", now=first + timedelta(days=3))
            day4 = await measure(js, s.events, "all", now=first + timedelta(days=4))
            assert (day3.oldest_seq, day3.pending, day3.age_s) == (1, 4, 3 * DAY_S)
            assert day4.age_s - day3.age_s == DAY_S
            assert day4.max_age_s == WEEK_S and day4.fraction == pytest.approx(4 / 7)

            news = await measure(js, s.events, "news", now=first + timedelta(days=3))
            assert (news.oldest_seq, news.pending, news.oldest_time) == (3, 1, stamps[3])

            sub = await js.pull_subscribe_bind("all", s.events)
            got = await sub.fetch(2, timeout=5)
            await got[0].ack_sync()  # seq 1 consumed; seq 2 delivered, not ACKed
            now = first + timedelta(days=1)
            after = await measure(js, s.events, "all", now=now)
            assert (after.oldest_seq, after.pending, after.ack_pending) == (2, 2, 1)
            assert after.oldest_time == stamps[2]
            await js.delete_msg(s.events, 2)  # as if it had expired
            assert (await measure(js, s.events, "all", now=now)).oldest_seq == 3

            for msg in await sub.fetch(2, timeout=5):
                await msg.ack_sync()
            done = await measure(js, s.events, "all", now=now)
            assert (done.age_s, done.oldest_seq, done.pending, done.ack_pending) == (
                0.0, None, 0, 0)

            everyone = await survey(js, s.events, now=now)
            assert [(b.durable, b.oldest_seq) for b in everyone] == [("all", None), ("news", 3)]
            with pytest.raises(BacklogError) as missing:
                await measure(js, s.events, "nobody")
            assert missing.value.code == "consumer_not_found"
            with pytest.raises(BacklogError) as no_stream:
                await survey(js, f"{s.events}_NONE")
            assert no_stream.value.code == "stream_not_found"
        finally:
            await js.delete_stream(s.events)
            await js.delete_stream(s.quarantine)
            await nc.close()

    asyncio.run(go())
