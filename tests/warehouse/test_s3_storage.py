"""Parquet through pyarrow.fs on the loopback S3-compatible server, read back as a dataset."""

from datetime import date

import pyarrow.dataset as ds

from tests.fixtures.s3 import S3Server
from warehouse.demo import generate
from warehouse.schema import PARTITION_SCHEMA


def test_write_and_read_partitioned_parquet_on_s3(s3_server: S3Server) -> None:
    s3 = s3_server.filesystem()
    bucket = s3_server.new_bucket()
    table = generate(20_000, seed=5, end=date(2026, 11, 1))
    # A few partitions are enough here; each file is a round trip to the server.
    table = table.filter(ds.field("dt") == "2026-10-30").filter(ds.field("hour") < "04")
    n = table.num_rows
    part = ds.partitioning(PARTITION_SCHEMA, flavor="hive")
    ds.write_dataset(table, f"{bucket}/wh/events", filesystem=s3, format="parquet",
                     partitioning=part, max_partitions=10_000)
    back = ds.dataset(f"{bucket}/wh/events", filesystem=s3, format="parquet", partitioning=part)
    assert n > 0 and back.count_rows() == n
    assert back.to_table(filter=ds.field("app_id") == "shop").num_rows == sum(
        1 for a in table["app_id"].to_pylist() if a == "shop")
