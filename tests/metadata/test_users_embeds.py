"""Local accounts (salted scrypt, one path for every failure) and signed embed links (every
refusal has its own code; the secret lives in the metadata store)."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine as SqlEngine

import metadata.users as users_module
from causality.errors import CausalityError
from metadata import open_db
from metadata.embeds import EmbedLinks, EmbedRefused
from metadata.errors import MetadataError
from metadata.users import (
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    UserError,
    UserStore,
    check_password,
    hash_password,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture
def people(db: SqlEngine) -> UserStore:
    store = UserStore(db)
    store.add("ada", PASSWORD, "admin")
    store.add("sam", PASSWORD, "viewer", app_id="shop", email="Sam@Example.com")
    return store


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text)


def test_hash_format_is_salted_scrypt() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    scheme, n, r, p, salt, digest = first.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", SCRYPT_N, SCRYPT_R, SCRYPT_P)
    assert (len(_b64(salt)), len(_b64(digest))) == (16, 32)
    assert first != second  # a new salt every time
    assert PASSWORD not in first
    assert check_password(PASSWORD, first) and check_password(PASSWORD, second)


def test_wrong_password_and_broken_hashes_fail_closed() -> None:
    stored = hash_password(PASSWORD)
    assert not check_password(PASSWORD + "!", stored)
    assert not check_password(PASSWORD, "not a hash")
    assert not check_password(PASSWORD, stored.replace("scrypt", "md5", 1))
    assert not check_password(PASSWORD, stored[:-6] + "!!!!!!")


def test_authenticate(people: UserStore) -> None:
    user = people.authenticate("ada", PASSWORD)
    assert user is not None and (user.username, user.role) == ("ada", "admin")
    assert people.authenticate("ada", "wrong password here") is None
    assert people.authenticate("ADA", PASSWORD) is None  # usernames are exact


def test_disabled_user_cannot_sign_in(people: UserStore) -> None:
    people.update("sam", disabled=True)
    assert people.authenticate("sam", PASSWORD) is None
    assert people.by_email("sam@example.com") is None
    people.update("sam", disabled=False)
    assert people.authenticate("sam", PASSWORD) is not None


def test_unknown_user_takes_the_same_path(people: UserStore,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    real = users_module.check_password

    def spy(password: str, stored: str) -> bool:
        checked.append(stored.split("$")[0])
        return real(password, stored)

    monkeypatch.setattr(users_module, "check_password", spy)
    assert people.authenticate("nobody", PASSWORD) is None
    assert people.authenticate("ada", "wrong password here") is None
    assert people.authenticate("bad name!", PASSWORD) is None
    assert checked == ["scrypt", "scrypt", "scrypt"]  # one slow hash each, whatever failed


def test_sso_only_account_has_no_password(people: UserStore) -> None:
    people.add("ola", None, "analyst", email="ola@example.com")
    assert people.authenticate("ola", "") is None
    assert people.authenticate("ola", PASSWORD) is None
    found = people.by_email("OLA@example.com")
    assert found is not None and found.username == "ola"


def test_add_validates(people: UserStore) -> None:
    cases = [(("bad name", PASSWORD, "viewer"), {}, "bad_username"),
             (("cid", PASSWORD, "owner"), {}, "unknown_role"),
             (("cid", "short", "viewer"), {}, "weak_password"),
             (("ada", PASSWORD, "viewer"), {}, "user_exists"),
             (("cid", PASSWORD, "viewer"), {"email": "sam@example.com"}, "user_exists"),
             (("cid", PASSWORD, "viewer"), {"app_id": "Bad App"}, "bad_app_id")]
    for args, kwargs, code in cases:
        with pytest.raises(CausalityError) as err:
            people.add(*args, **kwargs)  # type: ignore[arg-type]
        assert err.value.code == code, (args, kwargs)
        assert err.value.hint
    assert [u.username for u in people.list()] == ["ada", "sam"]
    assert people.get("sam").email == "sam@example.com"  # stored in one spelling


def test_update_scope_role_and_password(people: UserStore) -> None:
    assert people.update("sam", role="analyst", clear_app=True).app_id is None
    assert people.update("sam", app_id="news").app_id == "news"
    people.update("sam", password="a brand new password")
    assert people.authenticate("sam", PASSWORD) is None
    assert people.authenticate("sam", "a brand new password") is not None
    with pytest.raises(UserError) as err:
        people.update("nobody", role="viewer")
    assert err.value.code == "unknown_user"


# -- embed links ---------------------------------------------------------------------------

@pytest.fixture
def links(db: SqlEngine) -> EmbedLinks:
    return EmbedLinks(db)


def refusal(links: EmbedLinks, token: str, now: datetime | None = None) -> str:
    with pytest.raises(EmbedRefused) as err:
        links.verify(token, now=now)
    assert err.value.hint
    return err.value.code


def test_token_round_trip(links: EmbedLinks) -> None:
    link, token = links.create("board1", "shop", timedelta(days=2), "ann")
    assert links.verify(token) == link
    claims = json.loads(_b64(token.split(".")[0] + "=="))
    assert claims == {"l": link.link_id, "d": "board1", "a": "shop",
                      "e": int(link.expires_at.timestamp())}


def test_tampered_tokens_are_refused(links: EmbedLinks) -> None:
    _, token = links.create("board1", "shop", timedelta(days=2), "ann")
    body, signature = token.split(".")
    claims = json.loads(_b64(body + "=="))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "a": "news"}).encode()).decode()
    assert refusal(links, f"{forged.rstrip('=')}.{signature}") == "embed_tampered"
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert refusal(links, f"{body}.{flipped}") == "embed_tampered"
    assert refusal(links, f"{body}.!!not-base64!!") == "embed_tampered"
    assert refusal(links, f"{body}.") == "embed_tampered"


def test_malformed_tokens_are_refused(links: EmbedLinks) -> None:
    _, token = links.create("board1", "shop", timedelta(days=2), "ann")
    for bad in ("", "no-dot-at-all", token + ".extra", "x" * 2000 + "." + "y"):
        assert refusal(links, bad) == "embed_malformed"


def test_expired_token_is_refused(links: EmbedLinks) -> None:
    link, token = links.create("board1", "shop", timedelta(hours=1), "ann")
    assert links.verify(token, now=link.expires_at - timedelta(seconds=1)) == link
    assert refusal(links, token, now=link.expires_at) == "embed_expired"
    assert refusal(links, token, now=link.expires_at + timedelta(days=1)) == "embed_expired"


def test_revoked_and_unknown_links_are_refused(links: EmbedLinks) -> None:
    link, token = links.create("board1", "shop", timedelta(days=2), "ann")
    ghost = links.sign(dataclasses.replace(link, link_id="0123456789abcdef"))
    assert refusal(links, ghost) == "embed_unknown"  # signed, but never stored
    moved = links.sign(dataclasses.replace(link, dashboard_id="board2"))
    assert refusal(links, moved) == "embed_unknown"  # claims disagree with the stored row
    revoked = links.revoke(link.link_id)
    assert revoked.revoked_at is not None and not revoked.active(datetime.now(UTC))
    assert refusal(links, token) == "embed_revoked"
    with pytest.raises(MetadataError) as err:
        links.revoke("no-such-link")
    assert err.value.code == "unknown_embed"


def test_secret_persists_across_instances_and_stores_differ(db: SqlEngine,
                                                            tmp_path: Path) -> None:
    link, token = EmbedLinks(db).create("board1", "shop", timedelta(days=2), "ann")
    assert EmbedLinks(db).verify(token) == link  # a restart keeps the secret
    elsewhere = EmbedLinks(open_db(f"sqlite:///{tmp_path / 'other.db'}"))
    assert refusal(elsewhere, token) == "embed_tampered"


def test_create_validates(links: EmbedLinks) -> None:
    for ttl in (timedelta(seconds=30), timedelta(days=400)):
        with pytest.raises(MetadataError) as err:
            links.create("board1", "shop", ttl, "ann")
        assert err.value.code == "bad_embed_ttl"
    with pytest.raises(CausalityError) as bad_app:
        links.create("board1", "Bad App", timedelta(days=1), "ann")
    assert bad_app.value.code == "bad_app_id"
    assert links.list() == []
