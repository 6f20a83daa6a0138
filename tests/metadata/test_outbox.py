"""The reactor's outbox: recording with throttles, claiming under leases, settling, dead
letters, requeue and prune (SQLite; the same SQLAlchemy Core statements run on PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from metadata import (
    Delivery,
    Destinations,
    FiringDraft,
    MetadataError,
    Outbox,
    Settled,
    ThrottleLimit,
)
from metadata.outbox import DEAD, DELIVERED, PENDING, delivery_id_of


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def draft(i: int, dests: tuple[str, ...] = ("d1",), source_id: str = "rule-a",
          user: str | None = None, throttle: ThrottleLimit | None = None) -> FiringDraft:
    return FiringDraft(webhook_id=f"msg_{source_id}_{i}", source="rule", source_id=source_id,
                       app_id="shop", payload=f'{{"n": {i}}}', destination_ids=dests,
                       event_id=f"e{i}", user_key=user, throttle=throttle)


def settled(d: Delivery, status: str, *, code: str = "", http_status: int | None = None,
            response: str = "") -> Settled:
    return Settled(d.delivery_id, d.claim, status, status, code=code, http_status=http_status,
                   response=response, attempt=d.attempts + 1)


def test_record_is_idempotent_per_webhook_id_and_makes_one_row_per_destination(
        db: SqlEngine) -> None:
    box = Outbox(db)
    first = box.record([draft(1, ("d1", "d2", "d1")), draft(2)])
    again = box.record([draft(1, ("d1", "d2")), draft(2), draft(3)])
    assert (first.fired, first.deliveries, first.already) == (2, 3, 0)
    assert (again.fired, again.deliveries, again.already) == (1, 1, 2)
    assert box.counts() == {PENDING: 4}


def test_throttles_count_the_window_across_batches_and_per_user(db: SqlEngine) -> None:
    clock = Clock()
    box = Outbox(db, clock=clock)
    per_rule = ThrottleLimit(max_firings=3, window_s=60)
    got = box.record([draft(i, throttle=per_rule) for i in range(5)])
    assert (got.fired, got.throttled) == (3, 2)
    assert box.record([draft(10, throttle=per_rule)]).throttled == 1
    clock.now += 61  # the window has passed
    assert box.record([draft(11, throttle=per_rule)]).fired == 1
    per_user = ThrottleLimit(max_firings=1, window_s=60, per_user=True)
    got = box.record([draft(20 + i, source_id="rule-u", user=f"u{i % 2}", throttle=per_user)
                      for i in range(6)])
    assert (got.fired, got.throttled) == (2, 4)


def test_claim_caps_each_destination_and_skips_busy_disabled_and_excluded(
        db: SqlEngine) -> None:
    clock = Clock()
    box = Outbox(db, clock=clock)
    dests = Destinations(db, bytes(32))
    a = dests.add("a", "http://127.0.0.1:1/a", "t").destination.destination_id
    b = dests.add("b", "http://127.0.0.1:1/b", "t").destination.destination_id
    c = dests.add("c", "http://127.0.0.1:1/c", "t").destination.destination_id
    box.record([draft(i, (a, b, c)) for i in range(10)])
    dests.set_disabled(c, True)
    got = box.claim("w1", limit=100, lease_s=30, per_destination=4, busy={a: 1})
    by_dest = {d: sum(1 for x in got if x.destination_id == d) for d in (a, b, c)}
    assert by_dest == {a: 3, b: 4, c: 0}
    second = box.claim("w2", limit=100, lease_s=30, per_destination=4,
                       exclude_destinations=[a])  # a breaker open on a, say
    assert [x.destination_id for x in second] == [b] * 4
    third = box.claim("w3", limit=100, lease_s=30, per_destination=100, busy={b: 100})
    assert [x.destination_id for x in third] == [a] * 7
    dests.set_disabled(c, False)
    last = box.claim("w4", limit=100, lease_s=30, per_destination=100)
    assert sorted(x.destination_id for x in last) == sorted([b] * 2 + [c] * 10)
    ids = [x.delivery_id for x in (*got, *second, *third, *last)]
    assert len(ids) == len(set(ids)) == 30


def test_concurrent_claims_never_hand_out_a_row_twice(db: SqlEngine) -> None:
    box = Outbox(db)
    box.record([draft(i, ("d1", "d2", "d3")) for i in range(200)])
    taken: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        while True:
            got = box.claim(f"w{n}", limit=7, lease_s=60, per_destination=1000)
            if not got:
                return
            with lock:
                taken.extend(d.delivery_id for d in got)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(taken) == 600 == len(set(taken))


def test_a_lost_lease_changes_nothing_but_the_attempt_is_logged(db: SqlEngine) -> None:
    clock = Clock()
    box = Outbox(db, clock=clock)
    box.record([draft(1)])
    (old,) = box.claim("old", limit=1, lease_s=10, per_destination=8)
    clock.now += 11  # the lease ran out; another worker claims the row
    (new,) = box.claim("new", limit=1, lease_s=10, per_destination=8)
    assert box.settle([settled(old, DEAD, code="retries_exhausted")]) == 0
    assert box.settle([settled(old, DELIVERED, http_status=200)]) == 0
    assert box.dead_letters() == [] and box.counts() == {PENDING: 1}
    assert box.settle([settled(new, DELIVERED, http_status=200)]) == 1
    assert box.counts() == {DELIVERED: 1}
    assert [a.outcome for a in box.attempts(new.delivery_id)] == [DEAD, DELIVERED, DELIVERED]


def test_dead_delivery_letter_requeue_and_prune(db: SqlEngine) -> None:
    clock = Clock()
    box = Outbox(db, clock=clock)
    box.record([draft(1), draft(2)])
    one, two = box.claim("w", limit=2, lease_s=10, per_destination=8)
    box.settle([settled(one, DEAD, code="retries_exhausted", http_status=500, response="no"),
                settled(two, DELIVERED, http_status=200)])
    (letter,) = box.dead_letters()
    assert (letter.kind, letter.code, letter.rule_id) == ("delivery", "retries_exhausted",
                                                          "rule-a")
    assert letter.payload == b'{"n": 1}' and "HTTP 500: no" in letter.reason
    clock.now += 30 * 24 * 3600
    box.prune(14 * 24 * 3600)  # the delivered row goes; the dead one waits for its letter
    assert box.counts() == {DEAD: 1}
    row = box.requeue(letter.dead_id)
    assert (row.status, row.attempts, row.webhook_id) == (PENDING, 0, one.webhook_id)
    assert box.dead_letters() == []
    with pytest.raises(MetadataError) as err:
        box.requeue(letter.dead_id)
    assert err.value.code == "delivery_not_dead"
    assert box.dead_letters(include_replayed=True)[0].replayed_at is not None


def test_delivery_ids_fit_their_column() -> None:
    assert len(delivery_id_of("msg_" + "a" * 32, "0123456789abcdef")) <= 64
    assert len(delivery_id_of("x" * 100, "y" * 100)) == 64


def test_a_destination_with_a_deep_backlog_does_not_hide_the_others(db: SqlEngine) -> None:
    clock = Clock()
    box = Outbox(db, clock=clock)
    box.record([draft(i, ("busy-dest",)) for i in range(1000)])
    clock.now += 1  # the other destination's rows are due later than all of those
    box.record([draft(i, ("quiet-dest",), source_id="rule-b") for i in range(10)])
    got = box.claim("w", limit=64, lease_s=30, per_destination=32, busy={"busy-dest": 8})
    taken = {d: sum(1 for x in got if x.destination_id == d) for d in ("busy-dest", "quiet-dest")}
    assert taken == {"busy-dest": 24, "quiet-dest": 10}


def test_requeue_answers_every_letter_of_its_delivery(db: SqlEngine) -> None:
    box = Outbox(db)
    box.record([draft(1)])
    (d,) = box.claim("w", limit=1, lease_s=10, per_destination=8)
    box.settle([settled(d, DEAD, code="retries_exhausted")])
    (first,) = box.dead_letters()
    box.requeue(first.dead_id)
    (d,) = box.claim("w", limit=1, lease_s=10, per_destination=8)
    box.settle([settled(d, DEAD, code="retries_exhausted")])  # dead again: a second letter
    assert len(box.dead_letters()) == 1
    box.requeue(first.dead_id)  # the older letter, replayed again
    assert box.dead_letters() == []
    assert box.counts() == {PENDING: 1}
