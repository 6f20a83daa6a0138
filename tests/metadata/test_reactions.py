"""Reaction rules (stored JSON, a change counter) and webhook destinations (encrypted secrets)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from metadata import (
    Destinations,
    DuplicateRule,
    MetadataError,
    RuleStore,
    SecretUnreadable,
    UnknownDestination,
    UnknownRule,
)
from metadata._db import reaction_rules, webhook_destinations

KEY = bytes(range(32))


def rule_json(rule_id: str, app_id: str = "shop", event_type: str = "purchase") -> str:
    return json.dumps({"id": rule_id, "app_id": app_id, "event_type": event_type,
                       "actions": [{"type": "webhook", "destination_id": "d1"}]})


@pytest.fixture
def rules(db: Engine) -> RuleStore:
    return RuleStore(db)


@pytest.fixture
def dests(db: Engine) -> Destinations:
    return Destinations(db, KEY)


# --- rules -------------------------------------------------------------------------------------


def test_add_get_keeps_the_json_text_as_given(rules: RuleStore) -> None:
    text = rule_json("r1") + "  "  # never parsed, never re-serialised
    added = rules.add("r1", "shop", text, "ana")
    got = rules.get("r1")
    assert got == added
    assert (got.rule_id, got.app_id, got.rule_json, got.enabled, got.created_by) == (
        "r1", "shop", text, True, "ana")
    assert got.created_at.tzinfo is not None and got.updated_at == got.created_at


def test_list_is_newest_first_and_filters_by_app(db: Engine, rules: RuleStore) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for n, (rule_id, app) in enumerate((("a", "shop"), ("b", "blog"), ("c", "shop"))):
        rules.add(rule_id, app, rule_json(rule_id, app), "ana")
        with db.begin() as conn:  # distinct times even where the clock is coarse
            conn.execute(reaction_rules.update().where(reaction_rules.c.rule_id == rule_id)
                         .values(created_at=start + timedelta(seconds=n)))
    assert [r.rule_id for r in rules.list()] == ["c", "b", "a"]
    assert [r.rule_id for r in rules.list("shop")] == ["c", "a"]
    assert rules.list("none") == []


def test_replace_set_enabled_delete(rules: RuleStore) -> None:
    first = rules.add("r1", "shop", rule_json("r1"), "ana")
    replaced = rules.replace("r1", rule_json("r1", event_type="signup"))
    assert json.loads(replaced.rule_json)["event_type"] == "signup"
    assert replaced.created_at == first.created_at and replaced.updated_at >= first.updated_at
    assert not rules.set_enabled("r1", False).enabled
    assert [r.rule_id for r in rules.list(enabled_only=True)] == []
    assert rules.set_enabled("r1", True).enabled
    rules.delete("r1")
    assert rules.list() == []


@pytest.mark.parametrize(("text", "code", "field"), [
    (rule_json("r2"), "rule_mismatch", "id"),
    (rule_json("r1", app_id="blog"), "rule_mismatch", "app_id"),
    (json.dumps({"app_id": "shop"}), "rule_mismatch", "id"),
    ("[1]", "bad_rule", None),
    ("not json", "bad_rule", None),
    ("[" * 60_000, "bad_rule", None),  # hostile nesting: refused, not a RecursionError
])
def test_replace_refuses_json_of_another_rule_or_app(rules: RuleStore, text: str, code: str,
                                                     field: str | None) -> None:
    rules.add("r1", "shop", rule_json("r1"), "ana")
    before = rules.version()
    with pytest.raises(MetadataError) as err:
        rules.replace("r1", text)
    assert err.value.code == code and err.value.hint
    assert err.value.facts.get("field") == field
    assert rules.get("r1").rule_json == rule_json("r1") and rules.version() == before


def test_duplicate_and_unknown_rules_carry_codes(rules: RuleStore) -> None:
    rules.add("r1", "shop", rule_json("r1"), "ana")
    with pytest.raises(DuplicateRule) as dup:
        rules.add("r1", "blog", rule_json("r1", "blog"), "bo")
    assert dup.value.code == "duplicate_rule" and dup.value.hint
    assert rules.get("r1").app_id == "shop"  # the first one stays
    calls: list[Callable[[], object]] = [
        lambda: rules.get("nope"), lambda: rules.replace("nope", rule_json("nope")),
        lambda: rules.set_enabled("nope", False), lambda: rules.delete("nope")]
    for call in calls:
        with pytest.raises(UnknownRule) as unknown:
            call()
        assert unknown.value.code == "unknown_rule" and unknown.value.hint
        assert unknown.value.to_dict()["rule_id"] == "nope"


@pytest.mark.parametrize(("rule_id", "app_id", "text", "code"), [
    ("", "shop", "{}", "bad_rule"),
    ("x" * 129, "shop", "{}", "bad_rule"),
    ("r1", "shop", "   ", "bad_rule"),
    ("r1", "shop", "x" * (64 * 1024 + 1), "bad_rule"),
    ("r1", "../etc", "{}", "bad_app_id"),
])
def test_bad_rules_are_refused(rules: RuleStore, rule_id: str, app_id: str, text: str,
                               code: str) -> None:
    with pytest.raises(MetadataError) as err:
        rules.add(rule_id, app_id, text, "ana")
    assert err.value.code == code and err.value.hint
    assert rules.version() == 0


def test_every_change_bumps_the_version_and_reads_do_not(rules: RuleStore) -> None:
    seen = [rules.version()]
    assert seen == [0]

    def changed() -> None:
        seen.append(rules.version())
        assert seen[-1] > seen[-2]

    rules.add("r1", "shop", rule_json("r1"), "ana")
    changed()
    rules.replace("r1", rule_json("r1", event_type="signup"))
    changed()
    rules.set_enabled("r1", False)
    changed()
    rules.set_enabled("r1", True)
    changed()
    rules.delete("r1")
    changed()
    rules.add("r1", "shop", rule_json("r1"), "ana")  # same id and text as before: still a change
    changed()
    for read in (lambda: rules.get("r1"), rules.list, rules.snapshot):
        read()
    assert rules.version() == seen[-1]


def test_failed_changes_do_not_bump_the_version(rules: RuleStore) -> None:
    rules.add("r1", "shop", rule_json("r1"), "ana")
    before = rules.version()
    with pytest.raises(DuplicateRule):
        rules.add("r1", "shop", rule_json("r1"), "ana")
    with pytest.raises(UnknownRule):
        rules.delete("nope")
    with pytest.raises(UnknownRule):
        rules.replace("nope", rule_json("nope"))
    assert rules.version() == before


def test_version_is_shared_by_stores_on_one_database(db: Engine) -> None:
    writer, reader = RuleStore(db), RuleStore(db)
    before = reader.version()
    writer.add("r1", "shop", rule_json("r1"), "ana")
    assert reader.version() == before + 1


def test_snapshot_gives_the_version_and_the_enabled_rules(rules: RuleStore) -> None:
    rules.add("on", "shop", rule_json("on"), "ana")
    rules.add("off", "shop", rule_json("off"), "ana", enabled=False)
    version, live = rules.snapshot()
    assert version == rules.version() and [r.rule_id for r in live] == ["on"]


# --- destinations ------------------------------------------------------------------------------


def raw_rows(db: Engine) -> list[dict[str, object]]:
    with db.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(webhook_destinations)).mappings()]


def test_add_returns_a_standard_webhooks_secret_once(dests: Destinations) -> None:
    made = dests.add("  Slack relay ", "https://hooks.example.com/in?x=1", "ana")
    assert made.secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(made.secret.removeprefix("whsec_"), validate=True)) <= 64
    assert made.secret not in repr(made)
    d = made.destination
    assert (d.name, d.url, d.created_by, d.disabled) == (
        "Slack relay", "https://hooks.example.com/in?x=1", "ana", False)
    assert dests.get(d.destination_id) == d
    assert dests.secret(d.destination_id) == made.secret


def test_list_and_table_never_hold_the_plaintext_secret(db: Engine, dests: Destinations) -> None:
    made = [dests.add(name, "https://example.com/hook", "ana") for name in ("b", "a")]
    listed = dests.list()
    assert [d.name for d in listed] == ["a", "b"]
    for d in listed:
        assert not hasattr(d, "secret") and "whsec_" not in repr(d)
    for row in raw_rows(db):
        text = json.dumps(row, default=str)
        for m in made:
            assert m.secret not in text
            assert m.secret.removeprefix("whsec_") not in text
        assert "whsec_" not in text
        assert str(row["secret_ciphertext"]).startswith("aesgcm1:")


def test_same_secret_seals_differently_each_time(db: Engine, dests: Destinations) -> None:
    d = dests.add("a", "https://example.com/hook", "ana").destination
    first = raw_rows(db)[0]["secret_ciphertext"]
    dests.rotate(d.destination_id)
    assert raw_rows(db)[0]["secret_ciphertext"] != first


def test_wrong_key_is_a_clear_error(db: Engine, dests: Destinations) -> None:
    d = dests.add("a", "https://example.com/hook", "ana").destination
    other = Destinations(db, secrets.token_bytes(32))
    assert other.list() == dests.list()  # reading the list needs no key
    with pytest.raises(SecretUnreadable) as err:
        other.secret(d.destination_id)
    assert err.value.code == "secret_unreadable"
    assert "key" in err.value.hint and err.value.__cause__ is None
    assert err.value.__suppress_context__


def test_a_ciphertext_moved_to_another_row_does_not_open(db: Engine,
                                                         dests: Destinations) -> None:
    a = dests.add("a", "https://example.com/a", "ana").destination
    b = dests.add("b", "https://example.com/b", "ana").destination
    with db.begin() as conn:
        sealed = conn.execute(sa.select(webhook_destinations.c.secret_ciphertext).where(
            webhook_destinations.c.destination_id == a.destination_id)).scalar_one()
        conn.execute(webhook_destinations.update().where(
            webhook_destinations.c.destination_id == b.destination_id).values(
                secret_ciphertext=sealed))
    with pytest.raises(SecretUnreadable):
        dests.secret(b.destination_id)


@pytest.mark.parametrize("garbage", ["aesgcm1:not base64!", "aesgcm1:", "plain-text",
                                     "aesgcm1:" + base64.b64encode(b"short").decode()])
def test_a_damaged_ciphertext_is_a_clear_error(db: Engine, dests: Destinations,
                                               garbage: str) -> None:
    d = dests.add("a", "https://example.com/hook", "ana").destination
    with db.begin() as conn:
        conn.execute(webhook_destinations.update().values(secret_ciphertext=garbage))
    with pytest.raises(SecretUnreadable):
        dests.secret(d.destination_id)


def test_rotate_returns_a_new_secret_and_the_old_one_is_gone(dests: Destinations) -> None:
    made = dests.add("a", "https://example.com/hook", "ana")
    new = dests.rotate(made.destination.destination_id)
    assert new.startswith("whsec_") and new != made.secret
    assert dests.secret(made.destination.destination_id) == new


def test_disable_delete_and_unknown_destinations(dests: Destinations) -> None:
    d = dests.add("a", "https://example.com/hook", "ana").destination
    off = dests.set_disabled(d.destination_id, True)
    assert off.disabled and off.disabled_at is not None
    assert dests.set_disabled(d.destination_id, True).disabled_at == off.disabled_at
    assert dests.list(include_disabled=False) == []
    assert not dests.set_disabled(d.destination_id, False).disabled
    dests.delete(d.destination_id)
    assert dests.list() == []
    calls: list[Callable[[], object]] = [
        lambda: dests.get("nope"), lambda: dests.secret("nope"), lambda: dests.rotate("nope"),
        lambda: dests.set_disabled("nope", True), lambda: dests.delete("nope")]
    for call in calls:
        with pytest.raises(UnknownDestination) as err:
            call()
        assert err.value.code == "unknown_destination" and err.value.hint


@pytest.mark.parametrize("url", [
    "", "ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "example.com/hook",
    "https://", "https:///path", "https://user:pw@example.com/", "https://user@example.com/",
    "https://example.com:99999/", "https://example.com:abc/", "https://exa mple.com/",
    "https://example.com/\nx", "https://example.com/" + "a" * 2048,
])
def test_bad_urls_are_refused(dests: Destinations, url: str) -> None:
    with pytest.raises(MetadataError) as err:
        dests.add("a", url, "ana")
    assert err.value.code == "bad_destination_url"
    assert "http" in err.value.hint
    assert dests.list() == []


@pytest.mark.parametrize("url", [
    "http://localhost:8080/hook", "https://hooks.example.com/a/b?c=d#e", "HTTPS://Example.com",
    "http://[::1]:9000/x", "https://example.com/" + "a" * (2048 - len("https://example.com/")),
])
def test_good_urls_are_kept(dests: Destinations, url: str) -> None:
    assert dests.add("a", url, "ana").destination.url == url


def test_bad_name_and_bad_key(db: Engine, dests: Destinations) -> None:
    for name in ("", "   ", "n" * 201):
        with pytest.raises(MetadataError) as err:
            dests.add(name, "https://example.com/hook", "ana")
        assert err.value.code == "bad_destination_name"
    for key in (b"", b"x" * 16, b"x" * 33):
        with pytest.raises(MetadataError) as bad:
            Destinations(db, key)
        assert bad.value.code == "bad_secret_key"
