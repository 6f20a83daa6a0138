"""The audit log: every query attempt, who, from where, what ran, and how it ended."""

from __future__ import annotations

from dataclasses import asdict

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from guardrails.execute import AuditRecord
from metadata._db import audit_log


class AuditLog:
    """Implements ``guardrails.execute.AuditSink`` on the metadata store."""

    def __init__(self, db: Engine):
        self.db = db

    def record(self, entry: AuditRecord) -> int:
        row = asdict(entry)
        row["flags"] = ",".join(entry.flags) or None
        with self.db.begin() as conn:
            result = conn.execute(audit_log.insert().values(**row))
            key = result.inserted_primary_key
        return int(key[0]) if key else 0

    def tail(self, n: int = 20) -> list[dict[str, object]]:
        query = sa.select(audit_log).order_by(audit_log.c.audit_id.desc()).limit(n)
        with self.db.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        return rows[::-1]
