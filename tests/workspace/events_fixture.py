"""A small hand-built warehouse: a few users with exact timestamps, in two apps.

The expected numbers in the insight tests are worked out by hand from this list (the
comments there say how), never by running the same SQL.

Calendar: 2026-10-05 is a Monday, so the weeks are 10-05..10-11, 10-12..10-18, 10-19..10-25.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from warehouse.demo import write
from warehouse.schema import EVENTS_SCHEMA

TENANT = "shop"
OTHER_APP = "news"

PROFILE = {  # user -> (country, plan, device)
    "u1": ("US", "pro", "ios"),
    "u2": ("DE", "free", "web"),
    "u3": ("US", "free", "android"),
    "u4": ("GB", "pro", "ios"),
    "u5": ("US", "free", "web"),
    "u6": ("FR", "free", "ios"),
    "u7": ("US", "pro", "ios"),
    "u8": ("US", "free", "web"),
    "u9": ("US", "free", "android"),
    None: ("BR", "free", "web"),
}

# (app, user, event_type, "MM-DD HH:MM" in October 2026 UTC, extra properties)
EVENTS: list[tuple[str, str | None, str, str, dict[str, object]]] = [
    ("shop", "u1", "signup", "10-05 09:00", {}),
    ("shop", "u1", "activation", "10-05 10:00", {}),
    ("shop", "u1", "purchase", "10-05 12:00", {"revenue": 30.0}),
    ("shop", "u1", "page", "10-06 09:00", {"path": "/"}),
    ("shop", "u1", "page", "10-13 09:00", {"path": "/pricing"}),
    ("shop", "u1", "page", "10-20 09:00", {"path": "/"}),
    ("shop", "u2", "signup", "10-05 11:00", {}),
    ("shop", "u2", "activation", "10-06 11:30", {}),
    ("shop", "u2", "page", "10-14 08:00", {"path": "/docs"}),
    ("shop", "u3", "signup", "10-06 08:00", {}),
    ("shop", "u3", "signup", "10-06 20:00", {"device": "ios"}),
    ("shop", "u3", "activation", "10-07 07:00", {}),
    ("shop", "u3", "purchase", "10-07 09:00", {"revenue": 20.0}),
    ("shop", "u4", "activation", "10-06 09:00", {}),
    ("shop", "u4", "signup", "10-06 10:00", {}),
    ("shop", "u4", "purchase", "10-06 11:00", {"revenue": 50.0}),
    ("shop", "u5", "signup", "10-07 10:00", {}),
    ("shop", "u5", "purchase", "10-07 10:30", {"revenue": 5.0}),
    ("shop", "u5", "activation", "10-07 11:00", {}),
    ("shop", "u5", "purchase", "10-07 12:00", {"revenue": 15.0}),
    ("shop", "u5", "page", "10-15 10:00", {"path": "/"}),
    ("shop", "u5", "page", "10-21 10:00", {"path": "/"}),
    ("shop", "u6", "activation", "10-06 15:00", {}),
    ("shop", "u8", "signup", "10-04 23:59", {}),
    ("shop", "u8", "activation", "10-05 01:00", {}),
    ("shop", "u8", "page", "10-12 12:00", {"path": "/blog"}),
    ("shop", None, "signup", "10-05 13:00", {}),
    ("shop", None, "page", "10-05 14:00", {"path": "/"}),
    ("shop", "u9", "signup", "10-13 09:00", {}),
    ("shop", "u9", "page", "10-13 10:00", {"path": "/"}),
    ("shop", "u9", "page", "10-20 09:00", {"path": "/"}),
    ("news", "u7", "signup", "10-05 09:30", {}),
    ("news", "u7", "activation", "10-05 09:45", {}),
    ("news", "u7", "purchase", "10-05 10:00", {"revenue": 999.0}),
]
CATEGORY = {"signup": "lifecycle", "activation": "lifecycle", "purchase": "commerce",
            "page": "page"}


def table() -> pa.Table:
    rows: dict[str, list[object]] = {name: [] for name in EVENTS_SCHEMA.names}
    for i, (app, user, event_type, when, extra) in enumerate(EVENTS):
        at = datetime.strptime(f"2026-{when}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        country, plan, device = PROFILE[user]
        props = {"country": country, "plan": plan, "device": device, **extra}
        values = {
            "event_id": f"e{i:03d}",
            "event_type": event_type,
            "category": CATEGORY[event_type],
            "user_id": user,
            "anonymous_id": f"a-{user or 'anon'}",
            "session_id": f"s-{user or 'anon'}-{at:%m%d}",
            "event_time": at,
            "received_at": at,
            "properties": json.dumps(props),
            "context": json.dumps({"device": {"type": device}}),
            "app_id": app,
            "dt": f"{at:%Y-%m-%d}",
            "hour": f"{at:%H}",
        }
        for name, value in values.items():
            rows[name].append(value)
    return pa.Table.from_pydict(rows, schema=EVENTS_SCHEMA)


def write_warehouse(root: Path) -> Path:
    write(table(), root)
    return root
