"""The runner over a DuckDB warehouse of hand-made events and a real metadata store: a spike
fires once, stays one incident over several evaluations and resolves once; silence fires; the
lease is renewed through a long pass and a runner that lost it stops."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from metadata import MonitorStore
from pipeline.monitors import MonitorRunner, MonitorSpec, Transition
from pipeline.monitors._runner import default_holder
from tests.pipeline.monitors.warehouse_events import Row, write_events
from warehouse.engines import Engine, open_engine

START = datetime(2026, 2, 2, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
DAY = timedelta(days=1)
SPIKE = START + 22 * DAY + 14 * H  # three hours of ten times the usual
GAP = (START + 22 * DAY + 12 * H, START + 22 * DAY + 16 * H)  # news sends nothing
END = START + 24 * DAY
SETTLE = timedelta(minutes=5)


def shop_count(at: datetime) -> int:
    usual = (50 if 8 <= at.hour < 21 else 20) + at.hour % 3
    return usual * 10 if SPIKE <= at < SPIKE + 3 * H else usual


def rows() -> Iterator[Row]:
    at = START
    while at < END:
        n = shop_count(at)
        for k in range(n):
            yield ("shop", "view", f"u{k % 7}", at + timedelta(seconds=3600 * k // n), {})
        for minute in range(0, 60, 10):
            t = at + timedelta(minutes=minute)
            if not GAP[0] <= t < GAP[1]:
                yield ("news", "read", "r1", t, {})
        at += H


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("runner-wh")
    write_events(root, rows())
    opened = open_engine("duckdb", warehouse=root, memory_limit="512MB")
    yield opened
    opened.close()


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Transition] = []

    def __call__(self, transition: Transition) -> None:
        self.seen.append(transition)


def test_a_spike_fires_once_persists_and_resolves_once(db: SqlEngine, engine: Engine) -> None:
    store = MonitorStore(db)
    spec = MonitorSpec(app_id="shop", destination_ids=("d1",))
    shop = store.add("shop events", "shop", spec.model_dump_json(), "ann").monitor_id
    broken = store.add("broken", "shop", json.dumps({"app_id": "shop", "metric": "median"}),
                       "ann").monitor_id
    paused = store.add("paused", "shop", spec.model_dump_json(), "ann", enabled=False)
    notify = Recorder()
    runner = MonitorRunner(store, engine, notify, holder="test")

    assert runner.run_once(SPIKE - 2 * H + SETTLE) == []  # starts at the last complete hour
    assert [(s.monitor_id, s.code) for s in runner.skipped] == [(broken, "bad_value")]
    fired = runner.run_once(SPIKE + H + SETTLE)
    assert [(t.kind, t.direction, t.bucket, t.observed) for t in fired] == [
        ("fired", "spike", SPIKE, shop_count(SPIKE))]
    assert fired[0].destination_ids == ("d1",) and fired[0].name == "shop events"
    for hours in (2, 3):  # the incident lasts: no new alert
        assert runner.run_once(SPIKE + hours * H + SETTLE) == []
    resolved = runner.run_once(SPIKE + 6 * H + SETTLE)
    assert [(t.kind, t.alert_id, t.bucket) for t in resolved] == [
        ("resolved", fired[0].alert_id, SPIKE + 4 * H)]  # the second normal hour after it
    assert runner.run_once(SPIKE + 6 * H + SETTLE) == []  # nothing new to evaluate
    assert notify.seen == fired + resolved

    (alert,) = store.alerts(monitor_id=shop)
    assert (alert.status, alert.direction, alert.started_at) == (
        "resolved", "spike", SPIKE.timestamp())
    assert alert.resolved_at == (SPIKE + 4 * H).timestamp()
    points = json.loads(alert.detail_json)["points"]
    marked = [p["at"] for p in points if p.get("anomalous")]
    assert marked == [(SPIKE + k * H).isoformat() for k in range(3)]
    assert store.load_state(paused.monitor_id) is None  # a paused monitor is never evaluated


def test_the_lease_keeps_a_second_runner_out(db: SqlEngine, engine: Engine) -> None:
    store = MonitorStore(db)
    store.add("shop events", "shop", MonitorSpec(app_id="shop").model_dump_json(), "ann")
    first = MonitorRunner(store, engine, Recorder(), holder="a", lease_ttl_s=600)
    second = MonitorRunner(store, engine, Recorder(), holder="b", lease_ttl_s=600)
    now = SPIKE + H + SETTLE
    assert len(first.run_once(now)) == 1
    assert second.run_once(now + timedelta(minutes=5)) == []
    assert second.run_once(now + timedelta(minutes=11)) == []  # a taken lease, nothing new
    assert store.load_state(store.list()[0].monitor_id) is not None


def test_silence_fires_no_events_and_resolves_when_events_return(
    db: SqlEngine, engine: Engine
) -> None:
    store = MonitorStore(db)
    spec = MonitorSpec(app_id="news", kind="no_events", silence_minutes=60)
    monitor = store.add("news tracking", "news", spec.model_dump_json(), "ann").monitor_id
    notify = Recorder()
    runner = MonitorRunner(store, engine, notify, holder="test")
    assert runner.run_once(GAP[0] + 30 * timedelta(minutes=1)) == []
    fired = runner.run_once(GAP[0] + 2 * H)
    assert [(t.kind, t.direction) for t in fired] == [("fired", "no_events")]
    assert runner.run_once(GAP[0] + 3 * H) == []
    resolved = runner.run_once(GAP[1] + 5 * timedelta(minutes=1))
    assert [(t.kind, t.alert_id) for t in resolved] == [("resolved", fired[0].alert_id)]
    assert [a.status for a in store.alerts(monitor_id=monitor)] == ["resolved"]


def test_a_failing_notify_is_retried_with_the_same_alert_id(
    db: SqlEngine, engine: Engine
) -> None:
    store = MonitorStore(db)
    store.add("shop events", "shop", MonitorSpec(app_id="shop").model_dump_json(), "ann")
    calls: list[Transition] = []

    def flaky(transition: Transition) -> None:
        calls.append(transition)
        if len(calls) == 1:
            raise OSError("receiver down")

    runner = MonitorRunner(store, engine, flaky, holder="test")
    assert runner.run_once(SPIKE + H + SETTLE) == []
    assert [s.code for s in runner.skipped] == ["notify_failed"]
    again = runner.run_once(SPIKE + H + SETTLE)
    assert [t.alert_id for t in again] == [calls[0].alert_id] and len(calls) == 2
    assert len(store.alerts()) == 1


class Stopwatch:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def three_shop_monitors(store: MonitorStore) -> list[str]:
    spec = MonitorSpec(app_id="shop").model_dump_json()
    return [store.add(f"shop {k}", "shop", spec, "ann").monitor_id for k in range(3)]


def test_a_pass_longer_than_the_lease_renews_it_and_keeps_a_second_runner_out(
    db: SqlEngine, engine: Engine
) -> None:
    store = MonitorStore(db)
    ids = three_shop_monitors(store)
    now, clock, ttl = SPIKE + H + SETTLE, Stopwatch(), 300.0
    second_notified = Recorder()
    second = MonitorRunner(store, engine, second_notified, holder="b", lease_ttl_s=ttl)
    attempts: list[list[Transition]] = []

    def slow(transition: Transition) -> None:  # each monitor takes 200 s: 600 s in all
        clock.t += 200.0
        attempts.append(second.run_once(now + timedelta(seconds=clock.t)))

    first = MonitorRunner(store, engine, slow, holder="a", lease_ttl_s=ttl, monotonic=clock)
    done = first.run_once(now)
    assert [t.monitor_id for t in done] == ids and not first.lost_lease
    # at 400 s and 600 s the first lease (to 300 s) had run out; the renewed one had not
    assert attempts == [[], [], []] and second_notified.seen == []
    assert len(store.alerts()) == 3
    end = now.timestamp() + clock.t + ttl  # renewed before the last monitor, at 400 s
    assert not store.try_lead("b", ttl, end - 200.0 - 1)
    assert store.try_lead("b", ttl, end - 200.0)


def test_a_runner_that_lost_the_lease_stops_its_pass(db: SqlEngine, engine: Engine) -> None:
    store = MonitorStore(db)
    ids = three_shop_monitors(store)
    now, clock, ttl = SPIKE + H + SETTLE, Stopwatch(), 300.0

    def stalled(transition: Transition) -> None:  # stuck past the TTL; another takes over
        clock.t += ttl + 100.0
        assert store.try_lead("thief", ttl, now.timestamp() + clock.t)

    runner = MonitorRunner(store, engine, stalled, holder="a", lease_ttl_s=ttl, monotonic=clock)
    done = runner.run_once(now)
    assert [t.monitor_id for t in done] == ids[:1] and runner.lost_lease
    assert runner.skipped == []
    assert store.load_state(ids[0]) is not None  # the monitor in hand is finished
    assert [store.load_state(m) for m in ids[1:]] == [None, None]  # the rest are the thief's
    assert len(store.alerts()) == 1


def test_default_holders_differ_even_with_the_same_host_and_pid() -> None:
    holders = {default_holder() for _ in range(20)}
    assert len(holders) == 20
    assert all(0 < len(h) <= 64 for h in holders)
