"""Dashboards and their tiles: pinned answers (SQL in the Trino dialect plus a chart spec).

A dashboard may carry an app scope: its tiles then always run tenant-filtered to that app. A
tile keeps the SQL that ran for the answer it was pinned from; the dashboard's filters (date
range, app) are applied around that SQL when it runs (`workspace.dashboards`).
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from charts import ChartSpec
from metadata._db import dashboards, embed_links, tiles
from metadata.errors import MetadataError
from warehouse.layout import validate_app_id

MAX_TILES = 24
NAME_CHARS = 200


class UnknownDashboard(MetadataError):
    code = "unknown_dashboard"


@dataclass(frozen=True)
class Tile:
    tile_id: str
    dashboard_id: str
    seq: int
    title: str
    sql: str
    chart: ChartSpec | None
    question: str | None = None
    insight: str | None = None
    created_by: str = ""


@dataclass(frozen=True)
class TileDraft:
    """A tile not yet on a dashboard (`DashboardStore.create_once` adds a list of them)."""

    title: str
    sql: str
    chart: ChartSpec | None = None
    question: str | None = None
    insight: str | None = None


@dataclass(frozen=True)
class Dashboard:
    dashboard_id: str
    name: str
    owner: str
    app_id: str | None
    created_at: datetime


class DashboardStore:
    def __init__(self, db: Engine):
        self.db = db

    def create(self, name: str, owner: str, app_id: str | None = None) -> Dashboard:
        name = name.strip()[:NAME_CHARS]
        if not name:
            raise MetadataError("a dashboard needs a name", code="bad_dashboard_name",
                                hint="give it a short title")
        if app_id is not None:
            validate_app_id(app_id)
        board = Dashboard(secrets.token_hex(8), name, owner, app_id, datetime.now(UTC))
        with self.db.begin() as conn:
            conn.execute(dashboards.insert().values(
                dashboard_id=board.dashboard_id, name=board.name, owner=owner, app_id=app_id,
                created_at=board.created_at))
        return board

    def list(self, app_id: str | None = None) -> list[Dashboard]:
        """Every dashboard; with ``app_id``, only those scoped to that app."""
        query = sa.select(dashboards).order_by(dashboards.c.created_at)
        if app_id is not None:
            query = query.where(dashboards.c.app_id == app_id)
        with self.db.connect() as conn:
            return [_board(r) for r in conn.execute(query).mappings()]

    def find(self, name: str, app_id: str | None, owner: str) -> Dashboard | None:
        """The oldest dashboard of `owner` named `name` (as `create` stores it) for `app_id`."""
        with self.db.connect() as conn:
            found = conn.execute(_named(name, app_id, owner)).mappings().first()
        return None if found is None else _board(found)

    def create_once(self, name: str, owner: str, app_id: str | None,
                    drafts: Sequence[TileDraft]) -> tuple[Dashboard, bool]:
        """The dashboard `find` returns, or — when there is none — a new one holding `drafts`,
        made in one transaction; and whether it was made here. Processes doing this at once
        take turns (the name's lock), so exactly one of them makes it."""
        name = name.strip()[:NAME_CHARS]
        if not name or len(drafts) > MAX_TILES:
            raise MetadataError(f"a dashboard needs a name and at most {MAX_TILES} tiles",
                                code="bad_dashboard", hint="give it a title and fewer tiles")
        if app_id is not None:
            validate_app_id(app_id)
        with self.db.connect() as conn:
            _name_lock(conn, f"{owner}\x00{app_id or ''}\x00{name}")
            found = conn.execute(_named(name, app_id, owner)).mappings().first()
            if found is not None:
                conn.rollback()
                return _board(found), False
            board = Dashboard(secrets.token_hex(8), name, owner, app_id, datetime.now(UTC))
            conn.execute(dashboards.insert().values(
                dashboard_id=board.dashboard_id, name=name, owner=owner, app_id=app_id,
                created_at=board.created_at))
            for seq, draft in enumerate(drafts, start=1):
                conn.execute(tiles.insert().values(
                    tile_id=secrets.token_hex(8), dashboard_id=board.dashboard_id, seq=seq,
                    title=(draft.title.strip() or "untitled")[:NAME_CHARS],
                    question=draft.question, sql=draft.sql, insight=draft.insight,
                    created_by=owner, created_at=board.created_at,
                    chart=draft.chart.model_dump_json() if draft.chart is not None else None))
            conn.commit()
        return board, True

    def get(self, dashboard_id: str) -> Dashboard:
        with self.db.connect() as conn:
            found = conn.execute(sa.select(dashboards).where(
                dashboards.c.dashboard_id == dashboard_id)).mappings().first()
        if found is None:
            raise UnknownDashboard(f"no dashboard {dashboard_id!r}",
                                   hint="it may have been deleted; pick one from the list")
        return _board(found)

    def rename(self, dashboard_id: str, name: str) -> Dashboard:
        self.get(dashboard_id)
        with self.db.begin() as conn:
            conn.execute(dashboards.update().where(dashboards.c.dashboard_id == dashboard_id)
                         .values(name=name.strip()[:NAME_CHARS] or "untitled"))
        return self.get(dashboard_id)

    def delete(self, dashboard_id: str) -> None:
        """Removes the dashboard, its tiles, and revokes its embed links."""
        with self.db.connect() as conn:
            _lock(conn, dashboard_id)  # a tile pinned meanwhile elsewhere is not left behind
            conn.execute(tiles.delete().where(tiles.c.dashboard_id == dashboard_id))
            conn.execute(embed_links.update().where(embed_links.c.dashboard_id == dashboard_id)
                         .where(embed_links.c.revoked_at.is_(None))
                         .values(revoked_at=datetime.now(UTC)))
            conn.execute(dashboards.delete().where(dashboards.c.dashboard_id == dashboard_id))
            conn.commit()

    def add_tile(self, dashboard_id: str, *, title: str, sql: str, created_by: str,
                 chart: ChartSpec | None = None, question: str | None = None,
                 insight: str | None = None) -> Tile:
        with self.db.connect() as conn:
            _lock(conn, dashboard_id)  # count and number the tiles other processes pin too
            count, last = conn.execute(sa.select(sa.func.count(), sa.func.max(tiles.c.seq))
                                       .where(tiles.c.dashboard_id == dashboard_id)).one()
            if count >= MAX_TILES:
                raise MetadataError(f"a dashboard holds at most {MAX_TILES} tiles",
                                    code="too_many_tiles", hint="start another dashboard")
            tile = Tile(tile_id=secrets.token_hex(8), dashboard_id=dashboard_id,
                        seq=(last or 0) + 1,
                        title=(title.strip() or question or "untitled")[:NAME_CHARS], sql=sql,
                        chart=chart, question=question, insight=insight, created_by=created_by)
            conn.execute(tiles.insert().values(
                tile_id=tile.tile_id, dashboard_id=dashboard_id, seq=tile.seq, title=tile.title,
                question=question, sql=sql, insight=insight, created_by=created_by,
                chart=chart.model_dump_json() if chart is not None else None,
                created_at=datetime.now(UTC)))
            conn.commit()
        return tile

    def tiles(self, dashboard_id: str) -> builtins.list[Tile]:
        query = sa.select(tiles).where(tiles.c.dashboard_id == dashboard_id).order_by(tiles.c.seq)
        with self.db.connect() as conn:
            return [_tile(r) for r in conn.execute(query).mappings()]

    def remove_tile(self, tile_id: str) -> None:
        with self.db.begin() as conn:
            gone = conn.execute(tiles.delete().where(tiles.c.tile_id == tile_id)).rowcount
        if not gone:
            raise UnknownDashboard(f"no tile {tile_id!r}", code="unknown_tile",
                                   hint="it may have been removed already")


def _lock(conn: sa.Connection, dashboard_id: str) -> None:
    """Hold the dashboard's write lock until ``conn`` commits (SQLite: the database's, taken
    before reading; other databases: its row ``FOR UPDATE``), so that processes changing its
    tiles at once take turns; `UnknownDashboard` when it is gone."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    found = conn.execute(sa.select(dashboards.c.dashboard_id).where(
        dashboards.c.dashboard_id == dashboard_id).with_for_update()).first()
    if found is None:
        raise UnknownDashboard(f"no dashboard {dashboard_id!r}",
                               hint="it may have been deleted; pick one from the list")


def _named(name: str, app_id: str | None, owner: str) -> sa.Select[tuple[object, ...]]:
    scope = dashboards.c.app_id.is_(None) if app_id is None else dashboards.c.app_id == app_id
    return (sa.select(dashboards).where(dashboards.c.name == name.strip()[:NAME_CHARS], scope,
                                        dashboards.c.owner == owner)
            .order_by(dashboards.c.created_at, dashboards.c.dashboard_id).limit(1))


def _name_lock(conn: sa.Connection, key: str) -> None:
    """Hold a lock on `key` until ``conn`` ends its transaction (SQLite: the database's write
    lock; PostgreSQL: an advisory lock on the key's hash; others: none, best effort)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(number)))


def _board(r: sa.RowMapping) -> Dashboard:
    return Dashboard(r["dashboard_id"], r["name"], r["owner"], r["app_id"], r["created_at"])


def _tile(r: sa.RowMapping) -> Tile:
    chart = ChartSpec.model_validate_json(r["chart"]) if r["chart"] else None
    return Tile(tile_id=r["tile_id"], dashboard_id=r["dashboard_id"], seq=r["seq"],
                title=r["title"], sql=r["sql"], chart=chart, question=r["question"],
                insight=r["insight"], created_by=r["created_by"])
