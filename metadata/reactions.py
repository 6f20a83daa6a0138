"""Reactions: event rules and the webhook destinations they deliver to.

A rule is stored as its JSON text, exactly as given; only `pipeline.reactor` (``parse_rule``)
reads it, so this room never learns the rule model. The ``enabled`` column is the switch a
person flips; the reactor treats a rule as live only when both it and the JSON's own
``enabled`` say so. Every change to the rules bumps one counter in the same transaction, so a
running reactor can poll :meth:`RuleStore.version` every few seconds and rebuild only when it
moved.

A destination's signing secret (a Standard Webhooks ``whsec_…`` secret) must be readable to
sign deliveries, so it is kept encrypted, not hashed: AES-256-GCM under a 32-byte key the
composition root supplies, with the destination id as associated data (a ciphertext copied
onto another row does not decrypt). The secret is shown once, when made; lists never carry it.
"""

from __future__ import annotations

import base64
import builtins
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import orjson
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection, Engine

from metadata._db import reaction_rules, reaction_rules_version, webhook_destinations
from metadata.errors import MetadataError
from warehouse.errors import LayoutError
from warehouse.layout import validate_app_id

MAX_RULE_ID_CHARS = 128  # as `pipeline.reactor` allows
MAX_RULE_JSON_CHARS = 64 * 1024
MAX_NAME_CHARS = 200
MAX_URL_CHARS = 2048
KEY_BYTES = 32
SECRET_BYTES = 32  # Standard Webhooks allows 24-64
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_NONCE_BYTES = 12
_CIPHER_TAG = "aesgcm1:"  # names the scheme, so a later one can sit beside it
_RULE_HINT = "list the rules to see their ids"
_DESTINATION_HINT = "list the destinations to see their ids"


class UnknownRule(MetadataError):
    code = "unknown_rule"


class DuplicateRule(MetadataError):
    code = "duplicate_rule"


class UnknownDestination(MetadataError):
    code = "unknown_destination"


class SecretUnreadable(MetadataError):
    code = "secret_unreadable"


@dataclass(frozen=True)
class StoredRule:
    """A rule as stored: its JSON text is for `pipeline.reactor.parse_rule` to read."""

    rule_id: str
    app_id: str
    rule_json: str
    enabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Destination:
    """A webhook destination, without its secret."""

    destination_id: str
    name: str
    url: str
    created_by: str
    created_at: datetime
    disabled_at: datetime | None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True)
class NewDestination:
    """A destination just made and its secret, shown this once (kept out of ``repr``)."""

    destination: Destination
    secret: str = field(repr=False)


class RuleStore:
    """Add, replace, switch, remove and list rules; :meth:`version` says when any changed."""

    def __init__(self, db: Engine):
        self.db = db

    def add(self, rule_id: str, app_id: str, rule_json: str, created_by: str, *,
            enabled: bool = True) -> StoredRule:
        _check_rule_id(rule_id)
        _check_app_id(app_id)
        _check_json(rule_json)
        now = datetime.now(UTC)
        rule = StoredRule(rule_id, app_id, rule_json, enabled, created_by.strip(), now, now)
        try:
            with self.db.begin() as conn:
                conn.execute(reaction_rules.insert().values(
                    rule_id=rule_id, app_id=app_id, json=rule_json, enabled=enabled,
                    created_by=rule.created_by, created_at=now, updated_at=now))
                _bump(conn)
        except sa.exc.IntegrityError:
            raise DuplicateRule(f"a rule with id {rule_id!r} exists already",
                                hint="pick another id, or replace the rule") from None
        return rule

    def replace(self, rule_id: str, rule_json: str) -> StoredRule:
        """Put new JSON in place of a rule's; its app, switch and author stay, so the JSON must
        name the same ``id`` and ``app_id`` as the stored rule (``rule_mismatch`` otherwise)."""
        _check_json(rule_json)
        stored = self.get(rule_id)
        try:
            body = orjson.loads(rule_json)  # depth-limited: hostile nesting is a ValueError
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise MetadataError("a rule's JSON must be one object", code="bad_rule",
                                hint="store `rule.model_dump_json()`", rule_id=rule_id)
        for key, want in (("id", stored.rule_id), ("app_id", stored.app_id)):
            if body.get(key) != want:
                raise MetadataError(
                    f"{key}: the JSON says {str(body.get(key))[:80]!r} but rule {rule_id!r} "
                    f"has {want!r}", code="rule_mismatch", field=key, rule_id=rule_id,
                    hint="a rule keeps its id and app; add a new rule to watch another app "
                         "or to take another id")
        self._update(rule_id, json=rule_json)
        return self.get(rule_id)

    def set_enabled(self, rule_id: str, enabled: bool) -> StoredRule:
        self._update(rule_id, enabled=enabled)
        return self.get(rule_id)

    def delete(self, rule_id: str) -> None:
        with self.db.begin() as conn:
            deleted = conn.execute(reaction_rules.delete().where(
                reaction_rules.c.rule_id == rule_id)).rowcount
            if deleted:
                _bump(conn)
        if not deleted:
            raise _unknown_rule(rule_id)

    def get(self, rule_id: str) -> StoredRule:
        query = sa.select(reaction_rules).where(reaction_rules.c.rule_id == rule_id)
        with self.db.connect() as conn:
            found = conn.execute(query).mappings().first()
        if found is None:
            raise _unknown_rule(rule_id)
        return _rule(found)

    def list(self, app_id: str | None = None, *, enabled_only: bool = False) -> list[StoredRule]:
        """Rules, newest first; with ``app_id``, only that app's."""
        query = sa.select(reaction_rules).order_by(reaction_rules.c.created_at.desc(),
                                                   reaction_rules.c.rule_id)
        if app_id is not None:
            query = query.where(reaction_rules.c.app_id == app_id)
        if enabled_only:
            query = query.where(reaction_rules.c.enabled.is_(True))
        with self.db.connect() as conn:
            return [_rule(r) for r in conn.execute(query).mappings()]

    def version(self) -> int:
        """A counter that grows with every change to any rule; one indexed read."""
        query = sa.select(reaction_rules_version.c.version).where(
            reaction_rules_version.c.id == 1)
        with self.db.connect() as conn:
            return int(conn.execute(query).scalar_one_or_none() or 0)

    def snapshot(self) -> tuple[int, builtins.list[StoredRule]]:
        """The version and then the enabled rules: read in this order, a change made between
        the two reads shows as a newer version on the next poll and is never missed."""
        version = self.version()
        return version, self.list(enabled_only=True)

    def _update(self, rule_id: str, **values: object) -> None:
        with self.db.begin() as conn:
            changed = conn.execute(reaction_rules.update().where(
                reaction_rules.c.rule_id == rule_id).values(
                    updated_at=datetime.now(UTC), **values)).rowcount
            if changed:
                _bump(conn)
        if not changed:
            raise _unknown_rule(rule_id)


class Destinations:
    """Webhook destinations; their secrets encrypted under ``key`` (32 bytes)."""

    def __init__(self, db: Engine, key: bytes):
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise MetadataError(
                f"the destination secret key must be {KEY_BYTES} bytes",
                code="bad_secret_key",
                hint=f"supply {KEY_BYTES} random bytes, e.g. from secrets.token_bytes(32)")
        self.db = db
        self._aead = AESGCM(key)

    def add(self, name: str, url: str, created_by: str) -> NewDestination:
        """Make a destination and its secret; the secret is returned here and never listed."""
        name = _check_name(name)
        url = check_destination_url(url)
        destination = Destination(secrets.token_hex(8), name, url, created_by.strip(),
                                  datetime.now(UTC), None)
        secret = _new_secret()
        with self.db.begin() as conn:
            conn.execute(webhook_destinations.insert().values(
                destination_id=destination.destination_id, name=name, url=url,
                secret_ciphertext=self._seal(destination.destination_id, secret),
                created_by=destination.created_by, created_at=destination.created_at,
                disabled_at=None))
        return NewDestination(destination, secret)

    def get(self, destination_id: str) -> Destination:
        return _destination(self._row(destination_id))

    def list(self, *, include_disabled: bool = True) -> list[Destination]:
        """Destinations by name, never with their secrets."""
        query = sa.select(*_PUBLIC_COLUMNS).order_by(webhook_destinations.c.name,
                                                     webhook_destinations.c.destination_id)
        if not include_disabled:
            query = query.where(webhook_destinations.c.disabled_at.is_(None))
        with self.db.connect() as conn:
            return [_destination(r) for r in conn.execute(query).mappings()]

    def secret(self, destination_id: str) -> str:
        """The plaintext secret, for the signer only."""
        query = sa.select(webhook_destinations.c.secret_ciphertext).where(
            webhook_destinations.c.destination_id == destination_id)
        with self.db.connect() as conn:
            sealed = conn.execute(query).scalar_one_or_none()
        if sealed is None:
            raise _unknown_destination(destination_id)
        return self._open(destination_id, sealed)

    def rotate(self, destination_id: str) -> str:
        """Replace the secret; the new one is returned here and never again."""
        secret = _new_secret()
        with self.db.begin() as conn:
            changed = conn.execute(webhook_destinations.update().where(
                webhook_destinations.c.destination_id == destination_id).values(
                    secret_ciphertext=self._seal(destination_id, secret))).rowcount
        if not changed:
            raise _unknown_destination(destination_id)
        return secret

    def set_disabled(self, destination_id: str, disabled: bool) -> Destination:
        """Stop (or resume) deliveries to a destination; it keeps its secret."""
        row = self._row(destination_id)
        if (row["disabled_at"] is not None) != disabled:
            with self.db.begin() as conn:
                conn.execute(webhook_destinations.update().where(
                    webhook_destinations.c.destination_id == destination_id).values(
                        disabled_at=datetime.now(UTC) if disabled else None))
        return self.get(destination_id)

    def delete(self, destination_id: str) -> None:
        with self.db.begin() as conn:
            deleted = conn.execute(webhook_destinations.delete().where(
                webhook_destinations.c.destination_id == destination_id)).rowcount
        if not deleted:
            raise _unknown_destination(destination_id)

    def _row(self, destination_id: str) -> sa.RowMapping:
        query = sa.select(*_PUBLIC_COLUMNS).where(
            webhook_destinations.c.destination_id == destination_id)
        with self.db.connect() as conn:
            found = conn.execute(query).mappings().first()
        if found is None:
            raise _unknown_destination(destination_id)
        return found

    def _seal(self, destination_id: str, secret: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), destination_id.encode())
        return _CIPHER_TAG + base64.b64encode(nonce + sealed).decode("ascii")

    def _open(self, destination_id: str, sealed: str) -> str:
        hint = ("the store was opened with another key than the one that encrypted this"
                " secret: supply the original key, or rotate the destination's secret")
        if not sealed.startswith(_CIPHER_TAG):
            raise SecretUnreadable(
                f"the secret of destination {destination_id!r} is in an unknown format",
                hint=hint, destination_id=destination_id)
        try:
            raw = base64.b64decode(sealed.removeprefix(_CIPHER_TAG), validate=True)
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:],
                                       destination_id.encode())
            return plain.decode()
        except (InvalidTag, ValueError):  # binascii.Error and UnicodeDecodeError are ValueErrors
            raise SecretUnreadable(
                f"the secret of destination {destination_id!r} cannot be decrypted",
                hint=hint, destination_id=destination_id) from None


def check_destination_url(url: str) -> str:
    """``url`` if it is a plain http(s) address with a host and no credentials."""
    url = url.strip()
    hint = ("give an http:// or https:// address with a host, at most"
            f" {MAX_URL_CHARS} characters, without user:password@ (put secrets elsewhere)")

    def bad(why: str) -> MetadataError:
        return MetadataError(f"destination URL {why}", code="bad_destination_url", hint=hint)

    if not url:
        raise bad("is empty")
    if len(url) > MAX_URL_CHARS:
        raise bad(f"has {len(url)} characters, more than {MAX_URL_CHARS}")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise bad("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a port out of range or not a number
    except ValueError as exc:
        raise bad(f"cannot be read: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise bad(f"has scheme {parts.scheme or 'none'!r}, not http or https")
    if parts.username is not None or parts.password is not None:
        raise bad("carries credentials")
    if not parts.hostname:
        raise bad("has no host")
    return url


_PUBLIC_COLUMNS = tuple(c for c in webhook_destinations.c if c.name != "secret_ciphertext")


def _bump(conn: Connection) -> None:
    bumped = conn.execute(reaction_rules_version.update().where(
        reaction_rules_version.c.id == 1).values(
            version=reaction_rules_version.c.version + 1)).rowcount
    if not bumped:  # a table made outside open_db, without its seed row
        conn.execute(reaction_rules_version.insert().values(id=1, version=1))


def _new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _check_rule_id(rule_id: str) -> None:
    if not 0 < len(rule_id) <= MAX_RULE_ID_CHARS or rule_id != rule_id.strip():
        raise MetadataError(f"a rule id has 1-{MAX_RULE_ID_CHARS} characters, no outer spaces",
                            code="bad_rule", hint="use the rule's own `id`")


def _check_app_id(app_id: str) -> None:
    try:
        validate_app_id(app_id)
    except LayoutError as exc:
        raise MetadataError(exc.message, code=exc.code, hint=exc.hint) from None


def _check_json(rule_json: str) -> None:
    if not rule_json.strip() or len(rule_json) > MAX_RULE_JSON_CHARS:
        raise MetadataError(f"a rule's JSON has 1-{MAX_RULE_JSON_CHARS} characters",
                            code="bad_rule", hint="store `rule.model_dump_json()`")


def _check_name(name: str) -> str:
    name = name.strip()
    if not 0 < len(name) <= MAX_NAME_CHARS:
        raise MetadataError(f"a destination name has 1-{MAX_NAME_CHARS} characters",
                            code="bad_destination_name", hint="give it a short label")
    return name


def _unknown_rule(rule_id: str) -> UnknownRule:
    return UnknownRule(f"no rule with id {rule_id!r}", hint=_RULE_HINT, rule_id=rule_id)


def _unknown_destination(destination_id: str) -> UnknownDestination:
    return UnknownDestination(f"no destination with id {destination_id!r}",
                              hint=_DESTINATION_HINT, destination_id=destination_id)


def _rule(r: sa.RowMapping) -> StoredRule:
    return StoredRule(rule_id=r["rule_id"], app_id=r["app_id"], rule_json=r["json"],
                      enabled=bool(r["enabled"]), created_by=r["created_by"],
                      created_at=r["created_at"], updated_at=r["updated_at"])


def _destination(r: sa.RowMapping) -> Destination:
    return Destination(destination_id=r["destination_id"], name=r["name"], url=r["url"],
                       created_by=r["created_by"], created_at=r["created_at"],
                       disabled_at=r["disabled_at"])
