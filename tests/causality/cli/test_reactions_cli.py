"""`causality rules|destinations|reactions …` through click against a metadata store and a
warehouse in a temporary data dir: happy paths, and every bad input as a coded error."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from causality.cli import main
from metadata import DeadDraft, FiringDraft, KeyStore, Outbox, Settled, open_db
from warehouse.layout import Partition
from warehouse.storage import Storage

ISOLATED = ("CAUSALITY_METADATA_URL", "CAUSALITY_CONFIG", "CAUSALITY_STORAGE_WAREHOUSE",
            "CAUSALITY_REACTOR_SECRET_KEY_FILE")


def cli(*args: str, stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin)


def ok(*args: str, stdin: str | bytes | None = None) -> Result:
    result = cli(*args, stdin=stdin)
    assert result.exit_code == 0, result.output
    return result


def refused(code: str, *args: str, stdin: str | bytes | None = None) -> Result:
    """The command fails with exit code 2 and ``error [code]``, never a traceback."""
    result = cli(*args, stdin=stdin)
    assert result.exit_code == 2, result.output
    assert f"error [{code}]" in result.stderr, result.output
    assert "Traceback" not in result.output
    return result


def use_data_dir(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings from this data dir alone; the first time, app shop gets an API key."""
    for name in ISOLATED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAUSALITY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("USER", "ada")
    keys = KeyStore(open_db(f"sqlite:///{data_dir / 'meta.db'}"))
    if not keys.list("shop"):
        keys.create("shop", "web")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_data_dir(tmp_path, monkeypatch)
    return tmp_path


@pytest.fixture
def dest(data_dir: Path) -> str:
    out = ok("destinations", "add", "--name", "hooks", "--url", "http://127.0.0.1:9/hook")
    return out.stdout.split()[2]


def rule(rule_id: str = "big", dest: str = "x", **extra: Any) -> dict[str, Any]:
    return {"id": rule_id, "app_id": "shop", "event_type": "order_*",
            "conditions": {"gt": {"field": "properties.total", "value": 100}},
            "actions": [{"type": "webhook", "destination_id": dest}], **extra}


def outbox(data_dir: Path) -> Outbox:
    return Outbox(open_db(f"sqlite:///{data_dir / 'meta.db'}"))


# -- destinations -----------------------------------------------------------------------------
def test_destination_secret_is_shown_once(data_dir: Path) -> None:
    added = ok("destinations", "add", "--name", "hooks", "--url", "https://example.com/h")
    assert added.stdout.startswith("added destination ")
    dest_id = added.stdout.split()[2]
    secret = added.stdout.splitlines()[1].removeprefix("secret: ")
    assert secret.startswith("whsec_")
    assert "will not be shown again" in added.stderr
    listed = ok("destinations", "list")
    assert secret not in listed.output and dest_id in listed.output
    (doc,) = json.loads(ok("destinations", "list", "--json").stdout)
    assert doc["id"] == dest_id and doc["created_by"] == "ada" and not doc["disabled"]
    assert secret not in json.dumps(doc)

    rotated = ok("destinations", "rotate", dest_id)
    new = rotated.stdout.splitlines()[1].removeprefix("secret: ")
    assert new.startswith("whsec_") and new != secret
    assert "will not be shown again" in rotated.stderr

    ok("destinations", "disable", dest_id)
    assert json.loads(ok("destinations", "list", "--json").stdout)[0]["disabled"]
    ok("destinations", "enable", dest_id)
    assert not json.loads(ok("destinations", "list", "--json").stdout)[0]["disabled"]
    assert cli("destinations", "delete", dest_id, stdin="n\n").exit_code == 1
    ok("destinations", "delete", dest_id, "--yes")
    assert ok("destinations", "list").stdout == "no destinations\n"


def test_destination_bad_input(data_dir: Path) -> None:
    refused("bad_destination_url", "destinations", "add", "--name", "x", "--url", "ftp://h/")
    refused("bad_destination_url", "destinations", "add", "--name", "x",
            "--url", "https://u:p@h/")
    for command in ("rotate", "disable", "enable"):
        refused("unknown_destination", "destinations", command, "nope")
    refused("unknown_destination", "destinations", "delete", "nope", "--yes")


# -- rules ------------------------------------------------------------------------------------
def test_rule_from_a_file_list_show_switch_replace_delete(data_dir: Path, dest: str) -> None:
    path = data_dir / "rule.json"
    path.write_text(json.dumps(rule(dest=dest)))
    added = ok("rules", "add", "--file", str(path))
    assert added.stdout == "added rule big for app shop (1 destination(s))\n"

    listed = ok("rules", "list").stdout
    assert "big" in listed and "enabled" in listed and f"-> {dest}" in listed
    (doc,) = json.loads(ok("rules", "list", "--app", "shop", "--json").stdout)
    assert doc["rule"]["conditions"] == rule()["conditions"]
    assert (doc["created_by"], doc["enabled"], doc["live"]) == ("ada", True, True)
    assert json.loads(ok("rules", "list", "--app", "news", "--json").stdout) == []
    assert "conditions" in ok("rules", "show", "big").stdout
    assert json.loads(ok("rules", "show", "big", "--json").stdout)["id"] == "big"

    ok("rules", "disable", "big")
    assert json.loads(ok("rules", "show", "big", "--json").stdout)["live"] is False
    ok("rules", "enable", "big")
    assert json.loads(ok("rules", "show", "big", "--json").stdout)["live"] is True

    ok("rules", "replace", "big", "--file", "-",
       stdin=json.dumps(rule(dest=dest, event_type="refund")))
    assert json.loads(ok("rules", "show", "big", "--json").stdout)["rule"]["event_type"] == \
        "refund"
    refused("id_mismatch", "rules", "replace", "big", "--file", "-",
            stdin=json.dumps(rule("other", dest=dest)))
    refused("unknown_rule", "rules", "replace", "nope", "--file", "-",
            stdin=json.dumps(rule("nope", dest=dest)))

    assert cli("rules", "delete", "big", stdin="n\n").exit_code == 1
    ok("rules", "delete", "big", stdin="y\n")
    assert ok("rules", "list").stdout == "no rules\n"


def test_rule_from_flags(data_dir: Path, dest: str) -> None:
    ok("rules", "add", "--id", "vip", "--app", "shop", "--category", "track",
       "--event-type", "purchase?", "--where", '{"eq": {"field": "properties.plan", '
       '"value": "pro"}}', "--destination", dest, "--destination", dest,
       "--throttle", "5/3600", "--per-user")
    body = json.loads(ok("rules", "show", "vip", "--json").stdout)["rule"]
    assert body["throttle"] == {"max_firings": 5, "window_s": 3600.0, "per_user": True}
    assert body["category"] == "track" and body["event_type"] == "purchase?"
    assert [a["destination_id"] for a in body["actions"]] == [dest, dest]
    refused("duplicate_rule", "rules", "add", "--id", "vip", "--app", "shop",
            "--destination", dest)


def test_an_app_with_data_but_no_key_is_known(data_dir: Path, dest: str) -> None:
    refused("unknown_app", "rules", "add", "--id", "n", "--app", "news", "--destination", dest)
    Storage(str(data_dir / "warehouse")).write_parquet(
        Partition("news", "2026-01-05", "10"), pa.table({"x": [1]}), "part-1")
    ok("rules", "add", "--id", "n", "--app", "news", "--destination", dest)


@pytest.mark.parametrize(("args", "code", "field"), [
    (("--where", '{"eq": {"field": "properties.plan", "value": "pro"'), "invalid_json",
     "conditions"),
    (("--where", '{"like": {"field": "properties.plan", "value": "p%"}}'),
     "unknown_operator", "conditions"),
    (("--where", '{"regex": {"field": "properties.plan", "pattern": "(a"}}'), "bad_regex",
     "conditions.regex.pattern"),
    (("--where", '{"and": [{"exists": {"field": "user_id"}}, {"regex": {"field": "user_id", '
                 '"pattern": "(x)\\\\1"}}]}'), "bad_regex", "conditions.and[1].regex.pattern"),
    (("--where", '{"eq": {"field": "nothing.here", "value": 1}}'), "bad_field", "conditions"),
    (("--where", "[" * 100_000), "too_deep", "conditions"),  # not a RecursionError
    (("--where", '{"not": ' * 2_000), "too_deep", "conditions"),
    (("--where", '{"not": ' * 500 + '{"exists": {"field": "user_id"}}' + "}" * 500), "too_deep",
     "conditions"),
    (("--throttle", "lots"), "bad_value", "throttle"),
    (("--throttle", "0/60"), "bad_rule", "throttle.max_firings"),
    (("--per-user",), "missing_key", "throttle.per_user"),
    (("--event-type", ""), "bad_glob", "event_type"),
])
def test_bad_rules_name_the_field(data_dir: Path, dest: str, args: tuple[str, ...],
                                  code: str, field: str) -> None:
    result = refused(code, "rules", "add", "--id", "r", "--app", "shop", "--destination", dest,
                     *args)
    assert f"]: {field}" in result.stderr


def test_bad_rule_files(data_dir: Path, dest: str) -> None:
    refused("invalid_json", "rules", "add", "--file", "-", stdin="{not json")
    refused("invalid_json", "rules", "add", "--file", "-", stdin=b"\xff\xfe{}")
    refused("too_deep", "rules", "add", "--file", "-", stdin="[" * 100_000)
    refused("too_deep", "rules", "add", "--file", "-", stdin='{"a": ' * 50_000)
    refused("missing_key", "rules", "add", "--file", "-", stdin="{}")
    refused("unknown_key", "rules", "add", "--file", "-",
            stdin=json.dumps(rule(dest=dest, colour="red")))
    result = refused("missing_key", "rules", "add", "--id", "r", "--app", "shop")
    assert "actions" in result.stderr
    result = refused("unknown_app", "rules", "add", "--file", "-",
                     stdin=json.dumps(rule(dest=dest) | {"app_id": "nowhere"}))
    assert "app_id: unknown app 'nowhere'" in result.stderr
    refused("bad_app_id", "rules", "add", "--file", "-",
            stdin=json.dumps(rule(dest=dest) | {"app_id": "../etc"}))
    result = refused("unknown_destination", "rules", "add", "--file", "-",
                     stdin=json.dumps(rule(dest="ghost")))
    assert "actions[0].destination_id: no destination with id 'ghost'" in result.stderr
    usage = cli("rules", "add", "--file", "-", "--id", "x", stdin="{}")
    assert usage.exit_code == 2 and "not both" in usage.output
    assert ok("rules", "list").stdout == "no rules\n"


def test_unknown_rule_ids(data_dir: Path) -> None:
    for command in ("show", "disable", "enable"):
        refused("unknown_rule", "rules", command, "nope")
    refused("unknown_rule", "rules", "delete", "nope", "--yes")


def test_every_command_has_help(data_dir: Path) -> None:
    groups = {"rules": ["add", "list", "show", "disable", "enable", "delete", "replace"],
              "destinations": ["add", "list", "rotate", "disable", "enable", "delete"],
              "reactions": ["dlq", "deliveries", "attempts"],
              "reactions dlq": ["list", "show", "replay"]}
    for group, commands in groups.items():
        for command in commands:
            shown = ok(*group.split(), command, "--help").stdout
            assert "Usage:" in shown and len(shown) > 120


# -- hostile rule JSON ------------------------------------------------------------------------
REAL_DESTINATION = "@dest"  # replaced by a destination made in the data dir
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                     st.text(max_size=30))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20)
_operator = st.sampled_from(["and", "or", "not", "eq", "ne", "in", "gt", "regex", "exists",
                             "contains", "like", ""])
_field = st.sampled_from(["properties.plan", "user_id", "context.ip", "nothing", "", "properties."])
_leaf = st.fixed_dictionaries({"field": _field}, optional={
    "value": _scalars, "values": st.lists(_scalars, max_size=3),
    "pattern": st.sampled_from(["a+", "(a", "(x)\\1", "(?=a)", "[", ".*" * 50])})
_condition = st.recursive(
    st.builds(lambda op, body: {op: body}, _operator, _leaf),
    lambda inner: st.builds(lambda op, body: {op: body}, _operator,
                            st.one_of(inner, st.lists(inner, max_size=3))),
    max_leaves=8)
_rule = st.fixed_dictionaries(
    {"id": st.text(max_size=12), "app_id": st.sampled_from(["shop", "nowhere", "", "A B"]),
     "actions": st.lists(st.fixed_dictionaries(
         {"type": st.sampled_from(["webhook", "email"]),
          "destination_id": st.sampled_from(["ghost", "", REAL_DESTINATION])}), max_size=2)},
    optional={"conditions": st.one_of(_condition, _json), "event_type": st.text(max_size=5),
              "throttle": _json, "enabled": _json, "extra": _json})
_hostile = st.one_of(
    _rule.map(json.dumps),
    _json.map(lambda v: json.dumps(v)),
    st.text(max_size=200),
    st.binary(max_size=200),
    _rule.map(lambda r: json.dumps(r)[: len(json.dumps(r)) // 2]),
)


@pytest.fixture(scope="module")
def hostile_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_hostile)
def test_hostile_rule_json_never_tracebacks(hostile_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                            text: str | bytes) -> None:
    use_data_dir(hostile_dir, monkeypatch)
    dest_file = hostile_dir / "dest"
    if not dest_file.exists():
        dest_file.write_text(ok("destinations", "add", "--name", "h", "--url",
                                "http://127.0.0.1:9/").stdout.split()[2])
    if isinstance(text, str):
        text = text.replace(REAL_DESTINATION, dest_file.read_text())
    result = cli("rules", "add", "--file", "-", stdin=text)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code:
        assert result.exit_code == 2
        assert result.stderr.startswith("error ["), result.output
    event(result.stderr.split("]")[0] if result.exit_code else "added")


_nesting = st.builds(lambda depth, opener, tail: opener * depth + tail,
                     st.integers(0, 3_000), st.sampled_from(["[", '{"not": ', '{"a": [']),
                     st.sampled_from(["", "1", '{"exists": {"field": "user_id"}}', "]" * 5]))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.one_of(_nesting, _condition.map(json.dumps), st.text(max_size=50)))
def test_hostile_where_never_tracebacks(hostile_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                        where: str) -> None:
    use_data_dir(hostile_dir, monkeypatch)
    result = cli("rules", "add", "--id", "w", "--app", "shop", "--destination", "ghost",
                 "--where", where)
    assert result.exit_code == 2, result.output  # ghost is no destination: never added
    assert result.stderr.startswith("error ["), result.output
    assert "Traceback" not in result.output
    event(result.stderr.split("]")[0])


# -- reactions: dead letters and deliveries ---------------------------------------------------
def _event(event_id: str, total: int) -> bytes:
    return orjson.dumps({"event_id": event_id, "app_id": "shop", "category": "track",
                         "event_type": "order_paid", "user_id": "u1",
                         "properties": json.dumps({"total": total}), "context": None})


def _dead_delivery(box: Outbox, dest: str) -> str:
    box.record([FiringDraft("wh_1", "rule", "big", "shop", '{"n": 1}', (dest,), "e0")])
    (claimed,) = box.claim("test", limit=1, lease_s=60, per_destination=8)
    box.settle([Settled(claimed.delivery_id, claimed.claim, "dead", "http_error",
                        http_status=500, latency_ms=12.0, response="boom", code="gave_up",
                        attempt=claimed.attempts + 1)])
    return claimed.delivery_id


def test_dlq_list_show_replay(data_dir: Path, dest: str) -> None:
    ok("rules", "add", "--file", "-", stdin=json.dumps(rule(dest=dest)))
    box = outbox(data_dir)
    box.record([], [DeadDraft("rule_failed", "it broke", _event("e1", 500), app_id="shop",
                              rule_id="big"),
                    DeadDraft("bad_event", "unreadable", b"\xff\x00", app_id="shop")])
    delivery_id = _dead_delivery(box, dest)

    docs = json.loads(ok("reactions", "dlq", "list", "--json").stdout)
    assert [(d["kind"], d["code"]) for d in docs] == [
        ("event", "rule_failed"), ("event", "bad_event"), ("delivery", "gave_up")]
    event_id, garbage_id, delivery_dead = (d["id"] for d in docs)
    assert [d["id"] for d in json.loads(
        ok("reactions", "dlq", "list", "--kind", "delivery", "--json").stdout)] == [delivery_dead]
    assert "rule_failed" in ok("reactions", "dlq", "list").stdout

    shown = json.loads(ok("reactions", "dlq", "show", str(event_id)).stdout)
    assert json.loads(shown["payload"])["event_id"] == "e1" and shown["rule_id"] == "big"
    assert json.loads(ok("reactions", "dlq", "show", str(garbage_id)).stdout)["payload_hex"] \
        == "ff00"

    replayed = ok("reactions", "dlq", "replay", str(event_id)).stdout
    assert "fired=1" in replayed and "deliveries=1" in replayed
    assert "pending again" in ok("reactions", "dlq", "replay", str(delivery_dead)).stdout
    refused("dead_letter_unreadable", "reactions", "dlq", "replay", str(garbage_id))
    everything = cli("reactions", "dlq", "replay", "--all")
    assert everything.exit_code == 1 and "0 dead letter(s) replayed, 1 failed" in everything.stdout
    assert "dead_letter_unreadable" in everything.stderr
    assert [d["id"] for d in json.loads(
        ok("reactions", "dlq", "list", "--json").stdout)] == [garbage_id]
    assert len(json.loads(ok("reactions", "dlq", "list", "--replayed", "--json").stdout)) == 3

    refused("unknown_dead_letter", "reactions", "dlq", "show", "999")
    refused("unknown_dead_letter", "reactions", "dlq", "replay", "999")
    assert cli("reactions", "dlq", "replay").exit_code == 2
    assert cli("reactions", "dlq", "replay", "1", "--all").exit_code == 2
    assert cli("reactions", "dlq", "list", "--kind", "nope").exit_code == 2

    deliveries = json.loads(ok("reactions", "deliveries", "--json").stdout)
    assert {d["delivery_id"] for d in deliveries} >= {delivery_id}
    assert {d["status"] for d in deliveries} == {"pending"}
    assert json.loads(ok("reactions", "deliveries", "--status", "dead", "--json").stdout) == []
    assert json.loads(ok("reactions", "deliveries", "--rule", "other", "--json").stdout) == []
    assert delivery_id in ok("reactions", "deliveries", "--rule", "big").stdout
    assert cli("reactions", "deliveries", "--status", "lost").exit_code == 2

    (attempt,) = json.loads(ok("reactions", "attempts", delivery_id, "--json").stdout)
    assert (attempt["attempt"], attempt["http_status"], attempt["response"]) == (1, 500, "boom")
    assert "http=500" in ok("reactions", "attempts", delivery_id).stdout
    assert ok("reactions", "attempts", "nope").stdout == "no attempts for delivery nope\n"


def test_empty_logs(data_dir: Path) -> None:
    assert ok("reactions", "dlq", "list").stdout == "no dead letters\n"
    assert ok("reactions", "deliveries").stdout == "no deliveries\n"
    assert os.path.exists(data_dir / "meta.db")
