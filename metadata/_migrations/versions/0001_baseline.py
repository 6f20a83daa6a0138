"""Baseline: the tables a store had before the Reactions issue (keys, audit log, verified
queries, chats, users, dashboards and tiles, embed links, secrets, rate windows).

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

# `metadata._db.UtcDateTime` stores this; the zone handling on read is Python's, not DDL.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("app_id", sa.String(63), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index("ix_api_keys_app_id", "api_keys", ["app_id"])

    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("question", sa.Text, nullable=True),
        sa.Column("sql_in", sa.Text, nullable=False),
        sa.Column("sql_run", sa.Text, nullable=True),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("engine", sa.String(20), nullable=True),
        sa.Column("est_rows", sa.BigInteger, nullable=True),
        sa.Column("est_bytes", sa.BigInteger, nullable=True),
        sa.Column("duration_ms", sa.Float, nullable=True),
        sa.Column("rows", sa.BigInteger, nullable=True),
        sa.Column("flags", sa.Text, nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])

    op.create_table(
        "verified_queries",
        sa.Column("verified_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("app_id", sa.String(63), nullable=True),
        sa.Column("insight", sa.Text, nullable=True),
        sa.Column("sql", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("verified_by", sa.String(200), nullable=False),
        sa.Column("verified_at", UTC_DATETIME, nullable=False),
    )
    op.create_index("ix_verified_queries_app_id", "verified_queries", ["app_id"])

    op.create_table(
        "chats",
        sa.Column("chat_id", sa.String(32), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("app_id", sa.String(63), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
    )
    op.create_index("ix_chats_actor", "chats", ["actor"])
    op.create_index("ix_chats_updated_at", "chats", ["updated_at"])

    op.create_table(
        "chat_turns",
        sa.Column("turn_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("plan", sa.Text, nullable=True),
        sa.Column("sql", sa.Text, nullable=True),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("audit_ids", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.chat_id"]),
        sa.UniqueConstraint("chat_id", "seq"),
    )
    op.create_index("ix_chat_turns_chat_id", "chat_turns", ["chat_id"])

    op.create_table(
        "users",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.String(300), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("app_id", sa.String(63), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("disabled_at", UTC_DATETIME, nullable=True),
        sa.UniqueConstraint("email"),
    )

    op.create_table(
        "dashboards",
        sa.Column("dashboard_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("app_id", sa.String(63), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
    )

    op.create_table(
        "tiles",
        sa.Column("tile_id", sa.String(32), primary_key=True),
        sa.Column("dashboard_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("question", sa.Text, nullable=True),
        sa.Column("sql", sa.Text, nullable=False),
        sa.Column("chart", sa.Text, nullable=True),
        sa.Column("insight", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["dashboard_id"], ["dashboards.dashboard_id"]),
    )
    op.create_index("ix_tiles_dashboard_id", "tiles", ["dashboard_id"])

    op.create_table(
        "embed_links",
        sa.Column("link_id", sa.String(32), primary_key=True),
        sa.Column("dashboard_id", sa.String(32), nullable=False),
        sa.Column("app_id", sa.String(63), nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
    )
    op.create_index("ix_embed_links_dashboard_id", "embed_links", ["dashboard_id"])

    op.create_table(
        "secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
    )

    op.create_table(
        "rate_windows",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("hits", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_rate_windows_expires_at", "rate_windows", ["expires_at"])


def downgrade() -> None:
    for table in ("rate_windows", "secrets", "embed_links", "tiles", "dashboards", "users",
                  "chat_turns", "chats", "verified_queries", "audit_log", "api_keys"):
        op.drop_table(table)
