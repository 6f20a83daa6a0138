from datetime import UTC, datetime

import pytest

from warehouse.errors import LayoutError
from warehouse.layout import Partition, partition_path, validate_app_id
from warehouse.schema import (
    EVENTS_SCHEMA,
    FILE_SCHEMA,
    PARTITION_COLUMNS,
    TRINO_TYPES,
    rows_to_table,
)


def test_schema_matches_design_columns() -> None:
    assert EVENTS_SCHEMA.names == [
        "event_id", "event_type", "category", "user_id", "anonymous_id", "session_id",
        "event_time", "received_at", "properties", "context", "app_id", "dt", "hour"]
    assert PARTITION_COLUMNS == ("app_id", "dt", "hour")
    assert str(FILE_SCHEMA.field("event_time").type) == "timestamp[us, tz=UTC]"
    assert set(TRINO_TYPES) == set(EVENTS_SCHEMA.names)


def test_partition_path_and_roundtrip() -> None:
    assert partition_path("shop", "2026-11-27", 7) == "events/app_id=shop/dt=2026-11-27/hour=07"
    p = Partition.of("shop", datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC))
    assert p == Partition("shop", "2026-11-27", "23")
    assert Partition.parse("app_id=shop/dt=2026-11-27/hour=23") == p
    assert p.start == datetime(2026, 11, 27, 23, tzinfo=UTC)
    assert Partition.from_micros("a", 0) == Partition("a", "1970-01-01", "00")


@pytest.mark.parametrize("bad", ["", "Shop", "../etc", "a/b", "x" * 64, "a b", "app'--"])
def test_app_id_alphabet_is_enforced(bad: str) -> None:
    with pytest.raises(LayoutError) as err:
        validate_app_id(bad)
    assert err.value.code == "bad_app_id"


@pytest.mark.parametrize(("dt", "hour"), [("2026-1-1", 0), ("2026-11-27", 24)])
def test_bad_partition_values(dt: str, hour: int) -> None:
    with pytest.raises(LayoutError):
        partition_path("shop", dt, hour)


def test_rows_to_table_keeps_types() -> None:
    table = rows_to_table([{"event_id": "e", "event_type": "t", "category": "track",
                            "event_time": 1_000_000, "received_at": 2_000_000}])
    assert table.schema == FILE_SCHEMA
    assert table["event_time"][0].as_py() == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
