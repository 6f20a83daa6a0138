"""`causality monitors …` and `causality alerts list` through click against a metadata store in a
temporary data dir: happy paths, and bad specs as coded errors naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metadata import MonitorStore, open_db
from tests.causality.cli.test_reactions_cli import cli, ok, refused, use_data_dir


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_data_dir(tmp_path, monkeypatch)
    return tmp_path


@pytest.fixture
def dest(data_dir: Path) -> str:
    out = ok("destinations", "add", "--name", "hooks", "--url", "http://127.0.0.1:9/hook")
    return out.stdout.split()[2]


def store(data_dir: Path) -> MonitorStore:
    return MonitorStore(open_db(f"sqlite:///{data_dir / 'meta.db'}"))


def test_add_from_flags_list_show_pause_resume_delete(data_dir: Path, dest: str) -> None:
    added = ok("monitors", "add", "--id", "errors", "--app", "shop",
               "--event-type", "checkout_error", "--sensitivity", "high",
               "--breakdown", "plan=pro", "--destination", dest)
    assert added.stdout == ("added monitor errors (shop: events of checkout_error where "
                            "plan=pro per hour)\n")
    ok("monitors", "add", "--id", "traffic", "--app", "shop", "--name", "shop traffic",
       "--metric", "users", "--resolution", "day")
    ok("monitors", "add", "--id", "silent", "--app", "shop", "--kind", "no_events",
       "--silence-minutes", "30")

    listed = ok("monitors", "list").stdout.splitlines()
    assert [line.split()[0] for line in listed] == ["errors", "traffic", "silent"]
    assert "shop traffic" in listed[1]
    docs = json.loads(ok("monitors", "list", "--app", "shop", "--json").stdout)
    spec = docs[0]["spec"]
    assert (spec["event_type"], spec["sensitivity"], spec["destination_ids"]) == (
        "checkout_error", "high", [dest])
    assert spec["breakdown"] == {"key": "plan", "value": "pro"}
    assert docs[0]["created_by"] == "ada"
    assert (docs[1]["spec"]["metric"], docs[1]["spec"]["resolution"]) == ("users", "day")
    assert docs[2]["spec"]["silence_minutes"] == 30
    assert json.loads(ok("monitors", "list", "--app", "news", "--json").stdout) == []

    assert "checkout_error" in ok("monitors", "show", "errors").stdout
    assert json.loads(ok("monitors", "show", "errors", "--json").stdout)["enabled"] is True
    ok("monitors", "pause", "errors")
    assert "paused" in ok("monitors", "list").stdout.splitlines()[0]
    ok("monitors", "resume", "errors")
    assert json.loads(ok("monitors", "show", "errors", "--json").stdout)["enabled"] is True

    assert cli("monitors", "delete", "errors", stdin="n\n").exit_code == 1
    ok("monitors", "delete", "errors", "--yes")
    assert [d["id"] for d in json.loads(ok("monitors", "list", "--json").stdout)] == [
        "traffic", "silent"]
    refused("duplicate_monitor", "monitors", "add", "--id", "silent", "--app", "shop")


def test_add_from_a_file(data_dir: Path) -> None:
    spec = {"app_id": "shop", "metric": "sum", "property": "cart.total", "resolution": "day"}
    added = ok("monitors", "add", "--file", "-", "--name", "revenue", stdin=json.dumps(spec))
    monitor_id = added.stdout.split()[2]
    stored = store(data_dir).get(monitor_id)
    assert stored.name == "revenue" and json.loads(stored.spec_json)["property"] == "cart.total"
    path = data_dir / "m.json"
    path.write_text(json.dumps({"app_id": "shop"}))
    assert "(shop: events per hour)" in ok("monitors", "add", "--file", str(path)).stdout


@pytest.mark.parametrize(("args", "code", "field"), [
    (("--metric", "sum"), "bad_metric", "property"),
    (("--property", "cart.total"), "bad_metric", "property"),
    (("--metric", "sum", "--property", "a..b"), "bad_property", "property"),
    (("--kind", "no_events", "--event-type", "x"), "bad_no_events", "kind"),
    (("--breakdown", "plan"), "bad_value", "breakdown"),
    (("--breakdown", "=pro"), "bad_value", "breakdown.key"),
    (("--silence-minutes", "0"), "silence_too_short", "silence_minutes"),
    (("--kind", "no_events", "--silence-minutes", "5"), "silence_too_short", "silence_minutes"),
    (("--event-type", ""), "bad_value", "event_type"),
])
def test_bad_specs_name_the_field(data_dir: Path, args: tuple[str, ...], code: str,
                                  field: str) -> None:
    result = refused(code, "monitors", "add", "--app", "shop", *args)
    assert f"]: {field}" in result.stderr


def test_bad_monitor_input(data_dir: Path) -> None:
    refused("invalid_json", "monitors", "add", "--file", "-", stdin="{nope")
    refused("missing_key", "monitors", "add", "--file", "-", stdin="{}")
    refused("missing_key", "monitors", "add")
    refused("unknown_key", "monitors", "add", "--file", "-",
            stdin=json.dumps({"app_id": "shop", "colour": "red"}))
    result = refused("unknown_app", "monitors", "add", "--app", "nowhere")
    assert "app_id: unknown app 'nowhere'" in result.stderr
    refused("bad_app_id", "monitors", "add", "--app", "Not An App")
    result = refused("unknown_destination", "monitors", "add", "--app", "shop",
                     "--destination", "ghost")
    assert "destination_ids[0]: no destination with id 'ghost'" in result.stderr
    refused("bad_monitor_name", "monitors", "add", "--app", "shop", "--name", "  ")
    for bad in (("--metric", "median"), ("--resolution", "minute"), ("--kind", "x"),
                ("--sensitivity", "max")):
        usage = cli("monitors", "add", "--app", "shop", *bad)
        assert usage.exit_code == 2 and bad[0] in usage.output
    usage = cli("monitors", "add", "--file", "-", "--app", "shop", stdin="{}")
    assert usage.exit_code == 2 and "not both" in usage.output
    assert ok("monitors", "list").stdout == "no monitors\n"
    for command in ("show", "pause", "resume"):
        refused("unknown_monitor", "monitors", command, "nope")
    refused("unknown_monitor", "monitors", "delete", "nope", "--yes")


def test_replace_edits_the_spec_and_says_an_open_incident_was_closed(
    data_dir: Path, dest: str
) -> None:
    ok("monitors", "add", "--id", "m1", "--app", "shop", "--event-type", "checkout_error",
       "--name", "errors")
    monitors = store(data_dir)
    monitors.save_state("m1", '{"status": "firing"}', 1000.0)
    monitors.open_alert("m1-900", "m1", "shop", "spike", 900.0, 50.0, 5.0)

    out = ok("monitors", "replace", "m1", "--sensitivity", "high", "--destination", dest).stdout
    assert out.splitlines() == [
        "replaced monitor m1 (errors)",
        "its open incident was closed: alert m1-900 (spike since 1970-01-01T00:15:00+00:00); "
        "no notification was sent for it"]
    spec = json.loads(ok("monitors", "show", "m1", "--json").stdout)["spec"]
    assert (spec["sensitivity"], spec["event_type"], spec["destination_ids"]) == (
        "high", "checkout_error", [dest])  # the flags change only their own keys
    assert monitors.load_state("m1") is None
    assert monitors.alerts(monitor_id="m1")[0].status == "resolved"

    assert ok("monitors", "replace", "m1", "--name", "checkout errors").stdout == (
        "replaced monitor m1 (checkout errors)\n")  # a rename: nothing was open
    whole = {"app_id": "shop", "metric": "users", "resolution": "day"}
    ok("monitors", "replace", "m1", "--file", "-", stdin=json.dumps(whole))
    stored = monitors.get("m1")
    assert stored.name == "checkout errors"
    assert {k: v for k, v in json.loads(stored.spec_json).items() if v is not None} == (
        whole | {"kind": "anomaly", "sensitivity": "medium", "silence_minutes": 60,
                 "destination_ids": []})


def test_replace_is_checked_like_add(data_dir: Path) -> None:
    ok("monitors", "add", "--id", "m1", "--app", "shop", "--name", "shop")
    before = store(data_dir).get("m1")
    result = refused("bad_metric", "monitors", "replace", "m1", "--metric", "sum")
    assert "]: property" in result.stderr
    refused("silence_too_short", "monitors", "replace", "m1", "--kind", "no_events",
            "--silence-minutes", "3")
    result = refused("unknown_destination", "monitors", "replace", "m1", "--destination", "ghost")
    assert "destination_ids[0]: no destination with id 'ghost'" in result.stderr
    result = refused("app_mismatch", "monitors", "replace", "m1", "--file", "-",
                     stdin=json.dumps({"app_id": "news"}))
    assert "]: app_id" in result.stderr
    refused("unknown_key", "monitors", "replace", "m1", "--file", "-",
            stdin=json.dumps({"app_id": "shop", "colour": "red"}))
    refused("invalid_json", "monitors", "replace", "m1", "--file", "-", stdin="{nope")
    refused("unknown_monitor", "monitors", "replace", "nope", "--sensitivity", "high")
    for usage in (cli("monitors", "replace", "m1"),
                  cli("monitors", "replace", "m1", "--file", "-", "--metric", "users",
                      stdin="{}")):
        assert usage.exit_code == 2 and "Traceback" not in usage.output
    assert store(data_dir).get("m1") == before


@pytest.mark.parametrize("text", [
    "[" * 100_000, "{\"a\": " * 50_000, "[" * 1025 + "]" * 1025,
    json.dumps({"app_id": "shop", "breakdown": {"key": "k", "value": [[[[[[[[]]]]]]]]}}),
])
def test_hostile_nesting_is_a_coded_error(data_dir: Path, text: str) -> None:
    ok("monitors", "add", "--id", "m1", "--app", "shop")
    for command in (("add",), ("replace", "m1")):
        result = cli("monitors", *command, "--file", "-", stdin=text)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error ["), result.output
        assert "Traceback" not in result.output and not isinstance(
            result.exception, RecursionError)
    assert [m.monitor_id for m in store(data_dir).list()] == ["m1"]


def test_alerts_list(data_dir: Path) -> None:
    assert ok("alerts", "list").stdout == "no alerts\n"
    ok("monitors", "add", "--id", "m1", "--app", "shop")
    ok("monitors", "add", "--id", "m2", "--app", "shop", "--kind", "no_events")
    monitors = store(data_dir)
    monitors.open_alert("a1", "m1", "shop", "spike", 1_767_225_600.0, 120.0, 40.0,
                        json.dumps({"points": [[1_767_225_600.0, 120.0]]}))
    monitors.open_alert("a2", "m2", "shop", "drop", 1_767_229_200.0, 0.0, 35.5)
    monitors.resolve_alert("a1", 1_767_232_800.0)

    docs = json.loads(ok("alerts", "list", "--json").stdout)
    assert [(d["id"], d["status"]) for d in docs] == [("a2", "firing"), ("a1", "resolved")]
    assert docs[1]["detail"]["points"] == [[1_767_225_600.0, 120.0]]
    assert docs[1]["started_at"] == "2026-01-01T00:00:00+00:00"
    firing = json.loads(ok("alerts", "list", "--status", "firing", "--json").stdout)
    assert [d["id"] for d in firing] == ["a2"]
    assert [d["id"] for d in json.loads(
        ok("alerts", "list", "--monitor", "m1", "--json").stdout)] == ["a1"]
    assert json.loads(ok("alerts", "list", "--app", "news", "--json").stdout) == []
    text = ok("alerts", "list").stdout.splitlines()
    assert "firing" in text[0] and "observed=0 expected=35.5" in text[0]
    assert "-> 2026-01-01T02:00:00+00:00" in text[1]
    assert cli("alerts", "list", "--status", "open").exit_code == 2


def test_every_command_has_help(data_dir: Path) -> None:
    for args in (("monitors", "add"), ("monitors", "replace"), ("monitors", "list"),
                 ("monitors", "show"), ("monitors", "pause"), ("monitors", "resume"),
                 ("monitors", "delete"), ("alerts", "list")):
        shown = ok(*args, "--help").stdout
        assert "Usage:" in shown and len(shown) > 120
