"""Decoding payloads (fast path vs. the bus's strict decoder) and routing rows to partitions."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pytest

from pipeline.bus import encode_batch
from pipeline.sink._decode import decode
from pipeline.sink._route import HOUR_US, RecentIds, route
from tests.pipeline.sink._support import T0_US, rows
from warehouse.layout import Partition
from warehouse.schema import FILE_SCHEMA


def _msg(app: str, batch: list[dict[str, object]]) -> bytes:
    return encode_batch(app, "b", batch)


def test_fast_path_and_strict_path_agree() -> None:
    good = [_msg("shop", rows("shop", 50, 0)), _msg("news", rows("news", 3, 0))]
    # A pretty-printed payload has line breaks: it takes the strict (msgspec) path.
    pretty = orjson.dumps(orjson.loads(_msg("fit", rows("fit", 4, 0))), option=orjson.OPT_INDENT_2)
    out = decode([*good, pretty])
    assert not out.poison
    assert out.rows.num_rows == 57
    by_msg = out.rows.group_by("_msg").aggregate([("event_id", "count")]).to_pydict()
    assert dict(zip(by_msg["_msg"], by_msg["event_id_count"], strict=True)) == {0: 50, 1: 3, 2: 4}
    assert out.rows.select(FILE_SCHEMA.names).schema == FILE_SCHEMA
    fit = out.rows.filter(pa.compute.equal(out.rows["_msg"], 2)).to_pylist()
    assert [r["event_id"] for r in fit] == [f"e-fit-{i}" for i in range(4)]
    assert fit[0]["event_time"].timestamp() * 1e6 == T0_US


@pytest.mark.parametrize(("payload", "code"), [
    (b"garbage", "bad_batch_message"),
    (b"", "bad_batch_message"),
    (b"[1, 2]", "bad_batch_message"),
    (orjson.dumps({"v": 2, "app_id": "shop", "batch_id": "b", "rows": []}), "bad_batch_version"),
    (_msg("Bad App!", []), "bad_app_id"),
    (_msg("shop", rows("news", 1)), "app_mismatch"),
    (_msg("shop", [{**rows("shop", 1)[0], "event_time": -1}]), "bad_event_time"),
    (_msg("shop", [{**rows("shop", 1)[0], "event_id": None}]), "bad_batch_message"),
    (orjson.dumps({"v": 1, "app_id": "shop", "batch_id": "b", "rows": [{"event_id": "x"}]}),
     "bad_batch_message"),
    (orjson.dumps({"v": 1, "app_id": "shop", "batch_id": "b"}), "bad_batch_message"),
])
def test_poison_is_named_and_the_good_neighbours_survive(payload: bytes, code: str) -> None:
    out = decode([_msg("shop", rows("shop", 5)), payload, _msg("shop", rows("shop", 5, 5))])
    assert list(out.poison) == [1]
    assert out.poison[1].code == code
    assert sorted(out.rows["_msg"].to_pylist()) == [0] * 5 + [2] * 5


def test_route_by_app_and_hour_with_keys_per_message() -> None:
    # Message 0 spans two hours of shop; message 1 is news only.
    spanning = rows("shop", 4, 0, spread_us=HOUR_US // 2)
    out = decode([_msg("shop", spanning), _msg("news", rows("news", 2))])
    routed = route(out.rows, RecentIds(100))
    shop16, shop17 = Partition("shop", "2025-11-24", "16"), Partition("shop", "2025-11-24", "17")
    news16 = Partition("news", "2025-11-24", "16")
    assert {p: t.num_rows for p, t in routed.parts.items()} == {shop16: 2, shop17: 2, news16: 2}
    assert routed.keys == {0: {shop16, shop17}, 1: {news16}}
    assert all(t.schema == FILE_SCHEMA for t in routed.parts.values())


def test_redelivered_ids_are_dropped_within_the_window() -> None:
    recent = RecentIds(100)
    first = route(decode([_msg("shop", rows("shop", 10))]).rows, recent)
    again = route(decode([_msg("shop", rows("shop", 12))]).rows, recent)  # 10 old, 2 new
    assert sum(t.num_rows for t in first.parts.values()) == 10
    assert sum(t.num_rows for t in again.parts.values()) == 2
    assert again.duplicates == {"shop": 10}
    # Other apps have windows of their own: the same id in news is not a duplicate.
    news = route(decode([_msg("news", [{**rows("news", 1)[0], "event_id": "e-shop-0"}])]).rows,
                 recent)
    assert sum(t.num_rows for t in news.parts.values()) == 1


def test_window_is_bounded() -> None:
    recent = RecentIds(10)
    for i in range(0, 100, 5):
        assert recent.duplicates("a", [f"id{j}" for j in range(i, i + 5)]) == []
    assert len(recent) <= 20
    assert recent.duplicates("a", ["id99"]) == [0]  # recent: remembered
    assert recent.duplicates("a", ["id0"]) == []  # long ago: forgotten
    assert recent.duplicates("a", ["x", "y", "x"]) == [2]  # within one batch too
    assert RecentIds(0).duplicates("a", ["x", "x"]) == []  # 0 turns it off
