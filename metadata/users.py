"""People who sign in to the workspace: local accounts (salted scrypt) or OIDC identities.

Roles nest: a viewer sees dashboards; an analyst also chats, queries and pins; an admin also
manages keys, users and verified queries. A user with an ``app_id`` sees only that app's
events, enforced by the guardrails' tenant filter on every query they run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from metadata._db import users
from metadata.errors import MetadataError
from warehouse.layout import validate_app_id

Role = Literal["viewer", "analyst", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
# scrypt cost: ≈ 50 ms and 16 MB per check on this class of machine (OWASP's minimum is N=2^17
# with r=8 for new systems; 2^15 keeps a sign-in snappy on 2 cores while staying memory-hard).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class UserError(MetadataError):
    code = "user_error"


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    app_id: str | None
    email: str | None
    created_at: datetime
    disabled_at: datetime | None = None

    def can(self, role: Role) -> bool:
        """True when this user's role includes ``role``'s permissions."""
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = _scrypt(password, base64.urlsafe_b64decode(salt), int(n), int(r), int(p))
        want = base64.urlsafe_b64decode(digest)
    except (ValueError, TypeError):  # a damaged stored hash fails closed, never raises
        return False
    return hmac.compare_digest(got, want)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode()[:MAX_PASSWORD_CHARS], salt=salt, n=n, r=r, p=p,
                          maxmem=256 * 1024 * 1024, dklen=32)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


# Checked even for unknown users so that timing does not tell which usernames exist.
_DUMMY_HASH = hash_password(secrets.token_hex(16))


class UserStore:
    def __init__(self, db: Engine):
        self.db = db

    def add(self, username: str, password: str | None, role: Role, *,
            app_id: str | None = None, email: str | None = None) -> User:
        """A new user; ``password=None`` makes an account that signs in only through OIDC."""
        _check_username(username)
        _check_role(role)
        if app_id is not None:
            validate_app_id(app_id)
        if password is not None:
            _check_password(password)
        email = (email or "").strip().lower() or None  # one spelling: an SSO email, one account
        if self._find(username) is not None:
            raise UserError(f"user {username!r} exists", code="user_exists",
                            hint="pick another name, or `causality users passwd` to reset")
        row = {"username": username, "role": role, "app_id": app_id, "email": email,
               "created_at": datetime.now(UTC),
               "password_hash": hash_password(password) if password is not None else None}
        try:
            with self.db.begin() as conn:
                conn.execute(users.insert().values(**row))
        except sa.exc.IntegrityError:
            raise UserError(f"user {username!r} or email {email!r} exists",
                            code="user_exists", hint="pick another name or email") from None
        return self.get(username)

    def authenticate(self, username: str, password: str) -> User | None:
        """The user, when the password is right and the account active; else None."""
        found = self._find(username) if _USERNAME.match(username) else None
        stored = found["password_hash"] if found is not None else None
        ok = check_password(password, stored or _DUMMY_HASH)
        if not ok or found is None or stored is None or found["disabled_at"] is not None:
            return None
        return _user(found)

    def by_email(self, email: str) -> User | None:
        """The active user an OIDC identity (its verified email) maps to."""
        with self.db.connect() as conn:
            found = conn.execute(sa.select(users).where(
                sa.func.lower(users.c.email) == email.lower())).mappings().first()
        if found is None or found["disabled_at"] is not None:
            return None
        return _user(found)

    def get(self, username: str) -> User:
        found = self._find(username)
        if found is None:
            raise UserError(f"no user {username!r}", code="unknown_user",
                            hint="`causality users list` shows who exists")
        return _user(found)

    def list(self) -> list[User]:
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.username)).mappings()
            return [_user(r) for r in rows]

    def update(self, username: str, *, role: Role | None = None, app_id: str | None = None,
               clear_app: bool = False, password: str | None = None,
               disabled: bool | None = None) -> User:
        self.get(username)
        values: dict[str, object] = {}
        if role is not None:
            _check_role(role)
            values["role"] = role
        if app_id is not None:
            values["app_id"] = validate_app_id(app_id)
        if clear_app:
            values["app_id"] = None
        if password is not None:
            _check_password(password)
            values["password_hash"] = hash_password(password)
        if disabled is not None:
            values["disabled_at"] = datetime.now(UTC) if disabled else None
        if values:
            with self.db.begin() as conn:
                conn.execute(users.update().where(users.c.username == username).values(**values))
        return self.get(username)

    def count(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())

    def _find(self, username: str) -> sa.RowMapping | None:
        with self.db.connect() as conn:
            return conn.execute(sa.select(users).where(
                users.c.username == username)).mappings().first()


def _check_username(username: str) -> None:
    if not _USERNAME.match(username):
        raise UserError(f"invalid username {username!r}", code="bad_username",
                        hint="1–64 characters: letters, digits, '.', '_', '@', '-'")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}", code="unknown_role",
                        hint=f"one of: {', '.join(ROLES)}")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS or len(password) > MAX_PASSWORD_CHARS:
        raise UserError("the password is too short" if len(password) < MIN_PASSWORD_CHARS
                        else "the password is too long", code="weak_password",
                        hint=f"use {MIN_PASSWORD_CHARS}–{MAX_PASSWORD_CHARS} characters")


def _user(r: sa.RowMapping) -> User:
    return User(username=r["username"], role=r["role"], app_id=r["app_id"], email=r["email"],
                created_at=r["created_at"], disabled_at=r["disabled_at"])
