"""Monitors in the metadata store: specs kept as given, state, idempotent alerts, the lease."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import Engine

from metadata import (
    DuplicateMonitor,
    MetadataError,
    MonitorStore,
    UnknownAlert,
    UnknownMonitor,
)

SPEC = json.dumps({"app_id": "shop", "event_type": "checkout_error"})


def test_add_get_list_replace_switch_delete(db: Engine) -> None:
    store = MonitorStore(db)
    first = store.add(" Checkout errors ", "shop", SPEC, "ann")
    second = store.add("news", "news", '{"app_id": "news"}', "bob", monitor_id="news-1",
                       enabled=False)
    assert first.name == "Checkout errors" and first.spec_json == SPEC and first.enabled
    assert store.get(first.monitor_id) == first
    assert [m.monitor_id for m in store.list()] == [first.monitor_id, "news-1"]
    assert [m.monitor_id for m in store.list("news")] == ["news-1"]
    assert [m.monitor_id for m in store.list(enabled_only=True)] == [first.monitor_id]
    with pytest.raises(DuplicateMonitor):
        store.add("again", "news", "{}", "bob", monitor_id="news-1")
    store.save_state("news-1", '{"status": "ok"}', 1000.0)
    store.open_alert("news-1-1", "news-1", "news", "drop", 900.0, 1.0, 10.0)
    replaced = store.replace("news-1", '{"app_id": "news", "resolution": "day"}', name="daily")
    changed = replaced.monitor
    assert (changed.name, changed.spec_json) == ("daily", '{"app_id": "news", "resolution": "day"}')
    assert store.load_state("news-1") is None  # the old state described the old metric
    (closed,) = store.alerts(monitor_id="news-1")
    assert closed.status == "resolved" and replaced.closed_alert == closed
    assert store.replace("news-1", '{"app_id": "news"}').closed_alert is None  # none open
    store.save_state("news-1", '{"status": "firing"}', 2000.0)
    store.open_alert("news-1-2", "news-1", "news", "drop", 1900.0, 1.0, 10.0)
    renamed = store.replace("news-1", '{"app_id": "news"}', name="renamed")
    assert renamed.monitor.name == "renamed" and renamed.closed_alert is None
    assert store.load_state("news-1") is not None  # the same spec keeps state and incident
    assert store.alerts(monitor_id="news-1", status="firing")[0].alert_id == "news-1-2"
    assert store.set_enabled("news-1", True).enabled
    store.delete(second.monitor_id)
    with pytest.raises(UnknownMonitor) as caught:
        store.get("news-1")
    assert caught.value.code == "unknown_monitor" and caught.value.hint
    for call in (lambda: store.delete("nope"), lambda: store.set_enabled("nope", False),
                 lambda: store.replace("nope", "{}")):
        with pytest.raises(UnknownMonitor):
            call()


@pytest.mark.parametrize(("name", "app_id", "spec", "code"), [
    ("", "shop", SPEC, "bad_monitor_name"),
    ("x" * 201, "shop", SPEC, "bad_monitor_name"),
    ("ok", "Shop!", SPEC, "bad_app_id"),
    ("ok", "shop", "not json", "bad_monitor"),
    ("ok", "shop", "[1, 2]", "bad_monitor"),
    ("ok", "shop", " ", "bad_monitor"),
])
def test_bad_monitors_are_refused_with_a_code_and_hint(
    db: Engine, name: str, app_id: str, spec: str, code: str
) -> None:
    with pytest.raises(MetadataError) as caught:
        MonitorStore(db).add(name, app_id, spec, "ann")
    assert caught.value.code == code and caught.value.hint


def test_state_round_trips_and_is_replaced(db: Engine) -> None:
    store = MonitorStore(db)
    assert store.load_state("m") is None
    store.save_state("m", '{"a": 1}', None)
    store.save_state("m", '{"a": 2}', 3600.0)
    saved = store.load_state("m")
    assert saved is not None and (saved.state_json, saved.evaluated_until) == ('{"a": 2}', 3600.0)


def test_alert_transitions_are_idempotent(db: Engine) -> None:
    store = MonitorStore(db)
    assert store.open_alert("m-100", "m", "shop", "spike", 100.0, 50.0, 10.0, '{"points": []}')
    assert not store.open_alert("m-100", "m", "shop", "spike", 100.0, 50.0, 10.0)
    assert store.open_alert("m-200", "m", "shop", "drop", 200.0, 1.0, 10.0)
    store.open_alert("n-150", "n", "news", "no_events", 150.0, 0.0, 0.0)
    assert [a.alert_id for a in store.alerts()] == ["m-200", "n-150", "m-100"]
    assert store.resolve_alert("m-100", 160.0)
    assert not store.resolve_alert("m-100", 170.0)  # once resolved it stays as it was
    (resolved,) = store.alerts(status="resolved")
    assert (resolved.alert_id, resolved.resolved_at, resolved.detail_json) == (
        "m-100", 160.0, '{"points": []}')
    assert [a.alert_id for a in store.alerts(app_id="shop", status="firing")] == ["m-200"]
    assert len(store.alerts(limit=1)) == 1
    store.set_alert_detail("m-200", '{"points": [1]}')
    assert store.alerts(monitor_id="m", status="firing")[0].detail_json == '{"points": [1]}'
    with pytest.raises(UnknownAlert):
        store.resolve_alert("nope", 1.0)
    with pytest.raises(UnknownAlert):
        store.set_alert_detail("nope", "{}")
    for bad in ({"status": "open"}, {"limit": 0}):
        with pytest.raises(MetadataError):
            store.alerts(**bad)


def test_one_holder_leads_until_its_lease_runs_out(db: Engine) -> None:
    store = MonitorStore(db)
    assert store.try_lead("a", 60.0, now=1000.0)
    assert not store.try_lead("b", 60.0, now=1030.0)
    assert store.try_lead("a", 60.0, now=1050.0)  # renewing moves the end to 1110
    assert not store.try_lead("b", 60.0, now=1100.0)
    assert store.try_lead("b", 60.0, now=1110.0)
    assert not store.try_lead("a", 60.0, now=1111.0)
    with pytest.raises(MetadataError):
        store.try_lead("", 60.0, now=0.0)
