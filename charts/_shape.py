"""What a result column holds, read from its Arrow type and (for text) its first values."""

from __future__ import annotations

import re

import pyarrow as pa

TIME_NAMES = frozenset({"dt", "day", "date", "week", "month", "hour", "period", "time", "cohort"})
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
SAMPLED_VALUES = 50


def is_numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def is_time(table: pa.Table, name: str) -> bool:
    """A timestamp or date column, or text holding ISO dates under a time-like name."""
    t = table.schema.field(name).type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return True
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        values = [v for v in table.column(name).slice(0, SAMPLED_VALUES).to_pylist()
                  if v is not None]
        return name.lower() in TIME_NAMES and bool(values) and all(
            ISO_DATE.match(v) for v in values)
    return False
