"""Signed embed links: a dashboard shown read-only to people who are not signed in.

A token is ``<payload>.<signature>``: the payload (base64url JSON) names the link, the
dashboard, the tenant ``app_id`` every tile is filtered to, and the expiry; the signature is
HMAC-SHA256 under a secret kept in the metadata store. The link row is looked up on every view
so a revoked link stops working at once. Every refusal has its own code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from metadata._db import embed_links, secrets_table
from metadata.errors import MetadataError
from warehouse.layout import validate_app_id

SECRET_NAME = "embed_hmac"  # noqa: S105 - the row name, not the secret
MAX_TOKEN_CHARS = 1024
MAX_TTL = timedelta(days=366)


class EmbedRefused(MetadataError):
    """The token does not open anything: malformed, tampered, expired, revoked or orphaned."""

    code = "embed_refused"


@dataclass(frozen=True)
class EmbedLink:
    link_id: str
    dashboard_id: str
    app_id: str
    expires_at: datetime
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


class EmbedLinks:
    def __init__(self, db: Engine):
        self.db = db
        self._secret: bytes | None = None

    def create(self, dashboard_id: str, app_id: str, ttl: timedelta,
               created_by: str) -> tuple[EmbedLink, str]:
        """A new link and its token (shown to the creator; only the link row is stored)."""
        validate_app_id(app_id)
        if not timedelta(minutes=1) <= ttl <= MAX_TTL:
            raise MetadataError("an embed link lives between one minute and one year",
                                code="bad_embed_ttl", hint="pick an expiry within that range")
        now = datetime.now(UTC)
        link = EmbedLink(secrets.token_hex(8), dashboard_id, app_id,
                         (now + ttl).replace(microsecond=0), created_by, now)
        with self.db.begin() as conn:
            conn.execute(embed_links.insert().values(
                link_id=link.link_id, dashboard_id=dashboard_id, app_id=app_id,
                expires_at=link.expires_at, created_by=created_by, created_at=now))
        return link, self.sign(link)

    def sign(self, link: EmbedLink) -> str:
        payload = json.dumps({"l": link.link_id, "d": link.dashboard_id, "a": link.app_id,
                              "e": int(link.expires_at.timestamp())},
                             separators=(",", ":"), sort_keys=True).encode()
        body = _b64(payload)
        return f"{body}.{_b64(self._mac(body.encode()))}"

    def verify(self, token: str, now: datetime | None = None) -> EmbedLink:
        """The live link the token opens; raises `EmbedRefused` with the reason otherwise."""
        now = now or datetime.now(UTC)
        if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            raise EmbedRefused("this embed link is malformed", code="embed_malformed",
                               hint="copy the whole link from the Share page")
        body, signature = token.split(".")
        try:
            given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        except ValueError:
            given = b""
        if not hmac.compare_digest(given, self._mac(body.encode())):
            raise EmbedRefused("this embed link's signature does not match",
                               code="embed_tampered", hint="ask its owner for a new link")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if now.timestamp() >= claims["e"]:
            raise EmbedRefused("this embed link has expired", code="embed_expired",
                               hint="ask its owner for a new link")
        link = self.get(claims["l"])
        if link is None or link.dashboard_id != claims["d"] or link.app_id != claims["a"]:
            raise EmbedRefused("this embed link no longer exists", code="embed_unknown",
                               hint="ask its owner for a new link")
        if link.revoked_at is not None:
            raise EmbedRefused("this embed link was revoked", code="embed_revoked",
                               hint="ask its owner for a new link")
        return link

    def get(self, link_id: str) -> EmbedLink | None:
        with self.db.connect() as conn:
            found = conn.execute(sa.select(embed_links).where(
                embed_links.c.link_id == link_id)).mappings().first()
        return _link(found) if found is not None else None

    def list(self, dashboard_id: str | None = None) -> list[EmbedLink]:
        query = sa.select(embed_links).order_by(embed_links.c.created_at)
        if dashboard_id is not None:
            query = query.where(embed_links.c.dashboard_id == dashboard_id)
        with self.db.connect() as conn:
            return [_link(r) for r in conn.execute(query).mappings()]

    def revoke(self, link_id: str) -> EmbedLink:
        with self.db.begin() as conn:
            conn.execute(embed_links.update().where(embed_links.c.link_id == link_id)
                         .where(embed_links.c.revoked_at.is_(None))
                         .values(revoked_at=datetime.now(UTC)))
        link = self.get(link_id)
        if link is None:
            raise MetadataError(f"no embed link {link_id!r}", code="unknown_embed",
                                hint="the Share page lists a dashboard's links")
        return link

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key(), body, hashlib.sha256).digest()

    def _key(self) -> bytes:
        if self._secret is None:
            self._secret = bytes.fromhex(_stored_secret(self.db, SECRET_NAME))
        return self._secret


def _stored_secret(db: Engine, name: str) -> str:
    """A random secret made once per metadata store (first writer wins)."""
    query = sa.select(secrets_table.c.value).where(secrets_table.c.name == name)
    with db.begin() as conn:
        value = conn.execute(query).scalar_one_or_none()
        if value is None:
            try:
                with conn.begin_nested():
                    conn.execute(secrets_table.insert().values(
                        name=name, value=secrets.token_hex(32),
                        created_at=datetime.now(UTC)))
            except sa.exc.IntegrityError:
                pass
            value = conn.execute(query).scalar_one()
    return str(value)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _link(r: sa.RowMapping) -> EmbedLink:
    return EmbedLink(r["link_id"], r["dashboard_id"], r["app_id"], r["expires_at"],
                     r["created_by"], r["created_at"], r["revoked_at"])
