"""Write keys for the ingest edge: shown once, stored only as a SHA-256 hash.

Keys are 32 random bytes, so a fast hash is the right one (a slow password hash protects
low-entropy secrets; it would only slow every ingest request here). Each key belongs to one app:
``app_id`` always comes from the key, never from the payload.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from metadata._db import api_keys
from metadata.errors import UnknownKey
from warehouse.layout import validate_app_id

KEY_PREFIX = "ck_"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    app_id: str
    prefix: str
    label: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Create, list, revoke and verify write keys."""

    def __init__(self, db: Engine):
        self.db = db

    def create(self, app_id: str, label: str = "") -> tuple[ApiKey, str]:
        """A new key for ``app_id``; the plain key is returned once and never stored."""
        validate_app_id(app_id)
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(key_id=secrets.token_hex(8), app_id=app_id, prefix=plain[:10],
                     label=label[:200], created_at=datetime.now(UTC), revoked_at=None)
        with self.db.begin() as conn:
            conn.execute(api_keys.insert().values(
                key_id=row.key_id, app_id=row.app_id, key_hash=hash_key(plain),
                prefix=row.prefix, label=row.label, created_at=row.created_at))
        return row, plain

    def list(self, app_id: str | None = None, include_revoked: bool = True) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(api_keys.c.created_at)
        if app_id is not None:
            query = query.where(api_keys.c.app_id == app_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.db.connect() as conn:
            return [self._row(r) for r in conn.execute(query).mappings()]

    def revoke(self, key_id: str) -> ApiKey:
        with self.db.begin() as conn:
            conn.execute(api_keys.update().where(api_keys.c.key_id == key_id).where(
                api_keys.c.revoked_at.is_(None)).values(revoked_at=datetime.now(UTC)))
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).mappings()
            found = row.first()
        if found is None:
            raise UnknownKey(f"no key with id {key_id}", hint="`causality keys list` shows ids")
        return self._row(found)

    def verify(self, plain: str) -> ApiKey | None:
        """The active key matching ``plain``, or ``None`` (unknown or revoked)."""
        if not plain.startswith(KEY_PREFIX) or len(plain) > 200:
            return None
        query = sa.select(api_keys).where(api_keys.c.key_hash == hash_key(plain))
        with self.db.connect() as conn:
            found = conn.execute(query).mappings().first()
        if found is None or found["revoked_at"] is not None:
            return None
        return self._row(found)

    @staticmethod
    def _row(r: sa.RowMapping) -> ApiKey:
        return ApiKey(key_id=r["key_id"], app_id=r["app_id"], prefix=r["prefix"],
                      label=r["label"], created_at=r["created_at"], revoked_at=r["revoked_at"])
