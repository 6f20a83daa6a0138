"""Reactions: event rules and their change counter, webhook destinations, the reactor's
firings, outbox, attempts, dead letters and lock row, and monitors with their states, alerts
and lease row.

Revision ID: 0002_reactions
Revises: 0001_baseline
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_reactions"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    _rules_and_destinations()
    _reactor_records()
    _monitors()


def _rules_and_destinations() -> None:
    op.create_table(
        "reaction_rules",
        sa.Column("rule_id", sa.String(128), primary_key=True),
        sa.Column("app_id", sa.String(63), nullable=False),
        sa.Column("json", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
    )
    op.create_index("ix_reaction_rules_app_id", "reaction_rules", ["app_id"])
    op.create_index("ix_reaction_rules_created_at", "reaction_rules", ["created_at"])

    rules_version = op.create_table(
        "reaction_rules_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(rules_version, [{"id": 1, "version": 0}])

    op.create_table(
        "webhook_destinations",
        sa.Column("destination_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("secret_ciphertext", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("disabled_at", UTC_DATETIME, nullable=True),
    )


def _reactor_records() -> None:
    op.create_table(
        "reaction_firings",
        sa.Column("webhook_id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(128), nullable=False),
        sa.Column("app_id", sa.String(63), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=True),
        sa.Column("user_key", sa.String(255), nullable=True),
        sa.Column("fired_at", sa.Float, nullable=False),
    )
    op.create_index("ix_reaction_firings_app_id", "reaction_firings", ["app_id"])
    op.create_index("ix_reaction_firings_fired_at", "reaction_firings", ["fired_at"])
    op.create_index("ix_reaction_firings_source_time", "reaction_firings",
                    ["source_id", "fired_at"])
    op.create_index("ix_reaction_firings_source_user_time", "reaction_firings",
                    ["source_id", "user_key", "fired_at"])

    op.create_table(
        "webhook_outbox",
        sa.Column("delivery_id", sa.String(64), primary_key=True),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(128), nullable=False),
        sa.Column("app_id", sa.String(63), nullable=False),
        sa.Column("destination_id", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("fired_at", sa.Float, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("leased_by", sa.String(64), nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("done_at", sa.Float, nullable=True),
    )
    for column in ("webhook_id", "source_id", "destination_id", "fired_at"):
        op.create_index(f"ix_webhook_outbox_{column}", "webhook_outbox", [column])
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["status", "next_attempt_at"])

    op.create_table(
        "webhook_attempts",
        sa.Column("attempt_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("response", sa.Text, nullable=True),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])
    op.create_index("ix_webhook_attempts_at", "webhook_attempts", ["at"])

    op.create_table(
        "reaction_dead_letters",
        sa.Column("dead_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("app_id", sa.String(63), nullable=True),
        sa.Column("rule_id", sa.String(128), nullable=True),
        sa.Column("delivery_id", sa.String(64), nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("replayed_at", sa.Float, nullable=True),
    )
    op.create_index("ix_reaction_dead_letters_delivery_id", "reaction_dead_letters",
                    ["delivery_id"])
    op.create_index("ix_reaction_dead_letters_created_at", "reaction_dead_letters",
                    ["created_at"])

    reactor_lock = op.create_table(
        "reactor_lock",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(reactor_lock, [{"id": 1, "n": 0}])


def _monitors() -> None:
    op.create_table(
        "monitors",
        sa.Column("monitor_id", sa.String(32), primary_key=True),
        sa.Column("app_id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
    )
    op.create_index("ix_monitors_app_id", "monitors", ["app_id"])
    op.create_index("ix_monitors_created_at", "monitors", ["created_at"])

    op.create_table(
        "monitor_states",
        sa.Column("monitor_id", sa.String(32), primary_key=True),
        sa.Column("state_json", sa.Text, nullable=False),
        sa.Column("evaluated_until", sa.Float, nullable=True),
    )

    op.create_table(
        "monitor_alerts",
        sa.Column("alert_id", sa.String(64), primary_key=True),
        sa.Column("monitor_id", sa.String(32), nullable=False),
        sa.Column("app_id", sa.String(63), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("direction", sa.String(12), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("resolved_at", sa.Float, nullable=True),
        sa.Column("observed", sa.Float, nullable=False),
        sa.Column("expected", sa.Float, nullable=False),
        sa.Column("detail_json", sa.Text, nullable=False),
    )
    for column in ("monitor_id", "app_id", "started_at"):
        op.create_index(f"ix_monitor_alerts_{column}", "monitor_alerts", [column])

    monitor_lease = op.create_table(
        "monitor_lease",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=False),
    )
    op.bulk_insert(monitor_lease, [{"id": 1, "holder": None, "lease_until": 0.0}])


def downgrade() -> None:
    for table in ("monitor_lease", "monitor_alerts", "monitor_states", "monitors",
                  "reactor_lock", "reaction_dead_letters", "webhook_attempts", "webhook_outbox",
                  "reaction_firings", "webhook_destinations", "reaction_rules_version",
                  "reaction_rules"):
        op.drop_table(table)
