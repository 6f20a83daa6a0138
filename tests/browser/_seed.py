"""The data the browser tests see: the hand-built warehouse (apps "shop" and "news") and a
metadata store filled through the real services: three people, two dashboards, an embed link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from causality.settings import load_settings
from charts import ChartSpec
from tests.workspace.events_fixture import TENANT, write_warehouse
from workspace.service import Workspace

PASSWORD = "correct horse battery staple"
PEOPLE = {"admin": "ada", "analyst": "ann", "viewer": "vic"}  # role -> username
BOARD = "Growth"
DECOY = "Team notes"  # made first, so it is what the Dashboards page shows until one picks
BY_TYPE, DAILY, TOTAL = "Events by type", "Daily events", "Total events"

# None of these is scoped to an app: the tenant comes from whoever looks (filter or link).
TILES = (
    (BY_TYPE, "SELECT event_type, count(*) AS n FROM events GROUP BY event_type "
              "ORDER BY event_type", ChartSpec(kind="bar", x="event_type", y=["n"])),
    (DAILY, "SELECT date_trunc('day', event_time) AS day, count(*) AS events FROM events "
            "GROUP BY 1 ORDER BY 1", ChartSpec(kind="line", x="day", y=["events"])),
    (TOTAL, "SELECT count(*) AS events FROM events", ChartSpec(kind="number", y=["events"])),
)


@dataclass(frozen=True)
class Seeded:
    env: dict[str, str]  # the CAUSALITY_* settings the workspace process runs with
    dashboard_id: str  # BOARD
    decoy_id: str  # DECOY, no tiles
    token: str  # an embed link to BOARD, limited to TENANT, valid for a day
    tampered: str  # the same token with one character of its signature changed


def seed(data: Path) -> Seeded:
    warehouse = write_warehouse(data / "warehouse")
    meta = f"sqlite:///{data / 'meta.db'}"
    env = {"CAUSALITY_DATA_DIR": str(data), "CAUSALITY_STORAGE_WAREHOUSE": str(warehouse),
           "CAUSALITY_METADATA_URL": meta, "CAUSALITY_LLM_PROVIDER": "none"}
    ws = Workspace(load_settings(data_dir=data, metadata_url=meta,
                                 storage={"warehouse": str(warehouse)}))
    try:
        for role, name in PEOPLE.items():
            ws.users.add(name, PASSWORD, role)  # type: ignore[arg-type]
        decoy = ws.dashboards.create(DECOY, owner=PEOPLE["analyst"])
        board = ws.dashboards.create(BOARD, owner=PEOPLE["analyst"])
        for title, sql, chart in TILES:
            ws.dashboards.add_tile(board.dashboard_id, title=title, sql=sql, chart=chart,
                                   created_by=PEOPLE["analyst"])
        _, token = ws.embeds.create(board.dashboard_id, TENANT, timedelta(days=1),
                                    created_by=PEOPLE["analyst"])
    finally:
        ws.db.dispose()
    return Seeded(env, board.dashboard_id, decoy.dashboard_id, token, tamper(token))


def tamper(token: str) -> str:
    """One character changed in the middle of the signature (the last character of unpadded
    base64 carries spare bits, so changing that one may decode to the same bytes)."""
    body, signature = token.split(".")
    i = len(signature) // 2
    swapped = "A" if signature[i] != "A" else "B"
    return f"{body}.{signature[:i]}{swapped}{signature[i + 1:]}"
