"""The on-disk queue: caps, eviction by priority then age, WAL mode, upkeep."""

from __future__ import annotations

import sqlite3

from causality_sdk._queue import Store


def test_full_queue_evicts_lowest_priority_first_then_oldest(make_client, reports):
    client = make_client(send=False, max_queue_events=10)
    screens = [client.screen("u1", None, f"S{i}") for i in range(6)]
    tracks = [client.track("u1", "T", {"i": i}) for i in range(4)]
    assert client.stats().queued == 10 and client.stats().evicted == 0
    newer = [client.track("u1", "T", {"i": i}) for i in range(4, 8)]  # evicts S0..S3
    assert all(newer)
    stats = client.stats()
    assert (stats.queued, stats.evicted, stats.evicted_by_type) == (10, 4, {"screen": 4})
    evicted = reports.of("evicted")
    assert len(evicted) == 4 and all(r.count == 1 for r in evicted)
    kept = _queued_ids(client)
    assert kept == set(screens[4:] + tracks + newer)


def test_newcomer_is_dropped_when_everything_queued_matters_more(make_client, reports):
    client = make_client(send=False, max_queue_events=3)
    ids = [client.identify(f"u{i}", {"n": i}) for i in range(3)]
    assert client.screen("u1", None, "Home") is None  # lowest priority: it goes itself
    assert client.track("u1", "T") is None
    assert _queued_ids(client) == set(ids)
    assert client.stats().evicted_by_type == {"screen": 1, "track": 1}
    assert reports.of("evicted")[0].message_id is not None


def test_same_priority_evicts_oldest(make_client):
    client = make_client(send=False, max_queue_events=3)
    ids = [client.track("u1", "T", {"i": i}) for i in range(5)]
    assert _queued_ids(client) == set(ids[2:])


def test_byte_cap_evicts_enough_for_the_newcomer(make_client):
    client = make_client(send=False, max_queue_bytes=4000, priorities={"Big": 60})
    small = [client.track("u1", "Small", {"pad": "x" * 500}) for i in range(5)]
    assert client.stats().queued_bytes > 3000
    big = client.track("u1", "Big", {"pad": "y" * 2500})
    assert big
    stats = client.stats()
    assert stats.queued_bytes <= 4000
    assert big in _queued_ids(client)
    assert stats.evicted == 5 - (stats.queued - 1)
    assert _queued_ids(client) - {big} <= set(small)


def test_custom_priorities_by_event_name(make_client):
    client = make_client(send=False, max_queue_events=2, priorities={"Heartbeat": 1})
    heartbeat = client.track("u1", "Heartbeat")
    order = client.track("u1", "Order")
    page = client.page("u1", None, "Home")  # page (20) outranks Heartbeat (1)
    assert _queued_ids(client) == {order, page}
    assert heartbeat not in _queued_ids(client)


def test_caps_hold_across_reopen_and_totals_stay_exact(tmp_path):
    path = str(tmp_path / "q.sqlite3")
    store = Store(path, max_events=5, max_bytes=10_000, fsync=False)
    for i in range(8):
        store.append(50, "track", f"m{i}", b'{"i":%d}' % i)
    assert store.totals() == (5, 5 * 7)
    store.close()
    reopened = Store(path, max_events=5, max_bytes=10_000, fsync=False)
    rows = reopened.claim("me", 60, 100, 500_000)
    assert [row.message_id for row in rows] == ["m3", "m4", "m5", "m6", "m7"]
    reopened.remove(rows[:2], "me")
    assert reopened.totals() == (3, 21)
    reopened.close()


def test_wal_mode_and_synchronous_setting(tmp_path):
    path = str(tmp_path / "q.sqlite3")
    store = Store(path, max_events=10, max_bytes=10_000, fsync=False)
    store.append(50, "track", "m1", b"{}")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    store.close()
    strict = Store(path, max_events=10, max_bytes=10_000, fsync=True)
    assert strict._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    strict.close()


def test_leases_keep_two_senders_apart(tmp_path):
    path = str(tmp_path / "q.sqlite3")
    a = Store(path, max_events=100, max_bytes=100_000, fsync=False)
    b = Store(path, max_events=100, max_bytes=100_000, fsync=False)
    for i in range(10):
        a.append(50, "track", f"m{i}", b"{}")
    first = a.claim("a", 60, 4, 100_000)
    second = b.claim("b", 60, 100, 100_000)
    assert {r.message_id for r in first} & {r.message_id for r in second} == set()
    assert len(first) + len(second) == 10
    a.release(first, "a")
    assert [r.message_id for r in b.claim("b", 60, 100, 100_000)] == [r.message_id for r in first]
    a.close()
    b.close()


def test_wal_is_checkpointed_and_restarted(tmp_path):
    import causality_sdk._queue as q

    path = str(tmp_path / "q.sqlite3")
    store = Store(path, max_events=100_000, max_bytes=1 << 30, fsync=False)
    payload = b"x" * 3000
    for i in range(2000):
        store.append(50, "track", f"m{i}", payload)
    assert store.wal_bytes() > 0
    store.checkpoint(force=True)
    store.append(50, "track", "after", payload)  # the first commit after restarts the log
    assert store.wal_bytes() <= q.WAL_RESTART_BYTES
    store.close()


def test_memory_fallback_when_dir_is_unusable(tmp_path, make_client, reports, stub):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    client = make_client(queue_dir=str(blocker / "sub"))
    assert client.queue_path is None
    assert reports.codes() == ["queue_not_durable"]
    mid = client.track("u1", "StillWorks")
    assert client.flush(10)
    assert stub.message_ids() == [mid]


def test_corrupt_queue_file_is_set_aside(tmp_path):
    path = tmp_path / "q.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    store = Store(str(path), max_events=10, max_bytes=10_000, fsync=False)
    store.append(50, "track", "m1", b"{}")
    assert store.totals() == (1, 2)
    assert any(p.name.startswith("q.sqlite3.corrupt-") for p in tmp_path.iterdir())
    store.close()


def _queued_ids(client) -> set[str]:
    with client._store.lock:
        rows = client._store._conn.execute("SELECT message_id FROM events").fetchall()
    return {row[0] for row in rows}
