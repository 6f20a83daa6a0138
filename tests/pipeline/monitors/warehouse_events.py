"""Write hand-made events into a temp warehouse for the monitors' DuckDB tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from warehouse.demo import write
from warehouse.schema import EVENTS_SCHEMA

Row = tuple[str, str, str | None, datetime, dict[str, Any]]  # app, type, user, time, props


def write_events(root: Path, rows: Iterable[Row], basename: str = "t") -> None:
    cols: dict[str, list[Any]] = {name: [] for name in EVENTS_SCHEMA.names}
    for app_id, event_type, user_id, at, props in rows:
        cols["event_id"].append(str(uuid.uuid4()))
        cols["event_type"].append(event_type)
        cols["category"].append("track")
        cols["user_id"].append(user_id)
        cols["anonymous_id"].append(None)
        cols["session_id"].append(None)
        cols["event_time"].append(at)
        cols["received_at"].append(at)
        cols["properties"].append(json.dumps(props))
        cols["context"].append("{}")
        cols["app_id"].append(app_id)
        cols["dt"].append(f"{at:%Y-%m-%d}")
        cols["hour"].append(f"{at:%H}")
    write(pa.table(cols, schema=EVENTS_SCHEMA), root, basename=basename)
