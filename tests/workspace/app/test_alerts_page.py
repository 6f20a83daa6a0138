"""Alerts page: rules (form, field errors, test against recent events), monitors, the delivery
log, alert history with its chart, and destinations for admins only."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine as SqlEngine
from streamlit.testing.v1 import AppTest

from causality.errors import CausalityError
from causality.reactions_port import ReactorReactions
from causality.settings import load_settings
from metadata.monitors import MonitorStore
from metadata.outbox import FiringDraft, Outbox
from metadata.reactions import RuleStore
from metadata.users import User
from tests.workspace.app._helpers import texts
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.service import Workspace

App = Callable[..., AppTest]
KEY = bytes(range(32))


@pytest.fixture
def ws(engine: DuckDBEngine, db: SqlEngine, tmp_path: Path) -> Workspace:
    """The conftest's workspace, with the reactions port the composition root would supply."""
    return Workspace(load_settings(data_dir=tmp_path), engine=engine, db=db,
                     reactions=ReactorReactions(db, lambda: KEY))


@pytest.fixture
def hook(ws: Workspace) -> str:
    assert ws.reactions is not None
    return ws.reactions.destinations.add("Ops", "https://hooks.example.com/x", "ada") \
        .destination.destination_id


def open_alerts(app: App, user: User) -> AppTest:
    at = app(user).run()
    at.switch_page("views/alerts.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def tab_labels(at: AppTest) -> list[str]:
    return [t.label for t in at.tabs]


def fill_rule(at: AppTest, hook: str, *, rule_id: str = "big-buys",
              conditions: str = '{"gt": {"field": "properties.revenue", "value": 10}}') -> None:
    at.text_input(key="alerts.rule.id").input(rule_id)
    at.text_input(key="alerts.rule.app").input("shop")
    at.text_input(key="alerts.rule.event_type").input("purch*")
    at.text_area(key="alerts.rule.conditions").input(conditions)
    at.multiselect(key="alerts.rule.destinations").select(hook)


def test_analysts_see_every_tab_but_destinations(app: App, people: dict[str, User]) -> None:
    at = open_alerts(app, people["analyst"])
    assert tab_labels(at) == ["Rules", "Monitors", "Deliveries", "Alerts"]
    assert at.title[0].value == "Alerts"


def test_admins_also_manage_destinations(app: App, ws: Workspace,
                                         people: dict[str, User]) -> None:
    at = open_alerts(app, people["admin"])
    assert tab_labels(at)[-1] == "Destinations"
    at.text_input(key="alerts.dest.name").input("Pager")
    at.text_input(key="alerts.dest.url").input("https://pager.example.com/hook")
    at.button(key="alerts.dest.add").click().run()
    assert "shown only this once" in at.warning[0].value
    secret = at.code[0].value
    assert secret.startswith("whsec_")
    assert ws.reactions is not None
    (made,) = ws.reactions.destinations.list()
    assert ws.reactions.destinations.secret(made.destination_id) == secret
    at.run()  # the next run no longer shows it
    assert secret not in texts(at)
    at.button(key="alerts.dest.switch").click().run()
    assert ws.reactions.destinations.get(made.destination_id).disabled


def test_a_viewer_cannot_open_the_page(app: App, people: dict[str, User]) -> None:
    at = app(people["viewer"]).run()
    with pytest.raises(ValueError, match="navigation page"):
        at.switch_page("views/alerts.py")


def test_without_a_port_the_page_says_reactions_are_not_configured(
        app: App, ws: Workspace, people: dict[str, User]) -> None:
    ws.reactions = None
    at = open_alerts(app, people["analyst"])
    assert "not configured" in at.info[0].value
    assert not at.tabs


def test_creating_a_rule_through_the_form_stores_it(app: App, ws: Workspace, hook: str,
                                                    people: dict[str, User]) -> None:
    at = open_alerts(app, people["analyst"])
    fill_rule(at, hook)
    at.number_input(key="alerts.rule.max_firings").set_value(5)
    at.button(key="alerts.rule.save").click().run()
    assert not at.exception
    assert at.success[0].value == "Rule big\\-buys saved."
    stored = RuleStore(ws.db).get("big-buys")
    assert (stored.app_id, stored.created_by, stored.enabled) == ("shop", "ann", True)
    body = json.loads(stored.rule_json)
    assert body["event_type"] == "purch*"
    assert body["throttle"] == {"max_firings": 5, "window_s": 60.0, "per_user": False}
    assert body["actions"] == [{"type": "webhook", "destination_id": hook}]
    table = at.dataframe[0].value
    assert list(table["rule"]) == ["big-buys"] and list(table["status"]) == ["active"]
    at.button(key="alerts.rule.toggle").click().run()
    assert not RuleStore(ws.db).get("big-buys").enabled


@pytest.mark.parametrize(("conditions", "code"), [
    ('{"gt": {"field": "revenue", "value": 10}}', "bad_field"),
    ('{"gt": {"field": "properties.revenue"', "invalid_json"),
    ("[" * 100_000, "too_deep"),  # hostile nesting: a coded error, not a RecursionError
    ('{"not": ' * 5_000, "too_deep"),
    ('{"not": ' * 500 + '{"exists": {"field": "user_id"}}' + "}" * 500, "too_deep"),
])
def test_a_bad_condition_shows_the_field_error(app: App, ws: Workspace, hook: str,
                                               people: dict[str, User], conditions: str,
                                               code: str) -> None:
    at = open_alerts(app, people["analyst"])
    fill_rule(at, hook, conditions=conditions)
    at.button(key="alerts.rule.save").click().run()
    assert not at.exception
    assert len(at.error) == 1 and f"`{code}`" in at.error[0].value
    assert "conditions" in at.error[0].value
    assert RuleStore(ws.db).list() == []


def test_testing_a_rule_shows_matches_and_why_not(app: App, ws: Workspace, hook: str,
                                                  people: dict[str, User]) -> None:
    # shop's purchases have revenue 30, 20, 50, 5 and 15: four are over 10
    at = open_alerts(app, people["analyst"])
    fill_rule(at, hook)
    at.button(key="alerts.rule.test").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "4 of 31 recent events would have matched" in texts(at)
    verdicts = next(d.value for d in at.dataframe if "why not" in d.value.columns)
    reasons = dict(zip(verdicts["event type"] + verdicts["matched"], verdicts["why not"],
                       strict=True))
    assert "properties.revenue gt 10 is false (actual 5.0), needed true" in reasons[
        "purchasenot matched"]
    assert "does not match the rule's glob \"purch*\"" in reasons["pagenot matched"]
    assert RuleStore(ws.db).list() == []  # testing saves nothing


def seed_app(ws: Workspace, app_id: str, hook: str) -> None:
    """A rule, a delivery, a monitor and an open alert of ``app_id``, each named after it."""
    RuleStore(ws.db).add(f"{app_id}-rule", app_id, json.dumps({
        "id": f"{app_id}-rule", "app_id": app_id, "actions": [{"destination_id": hook}]}), "ada")
    Outbox(ws.db).record([FiringDraft(
        webhook_id=f"msg_{app_id}", source="rule", source_id=f"{app_id}-rule", app_id=app_id,
        payload="{}", destination_ids=(hook,), event_id=f"{app_id}-e1")])
    monitors = MonitorStore(ws.db)
    monitor = monitors.add(f"{app_id} traffic", app_id, json.dumps({"app_id": app_id}), "ada",
                           monitor_id=f"{app_id}-mon")
    monitors.open_alert(f"{app_id}-alert", monitor.monitor_id, app_id, "drop", 1.0, 0.0, 9.0)


def test_a_scoped_analyst_manages_only_their_app(app: App, ws: Workspace, hook: str,
                                                 people: dict[str, User]) -> None:
    seed_app(ws, "shop", hook)
    seed_app(ws, "news", hook)
    at = open_alerts(app, people["scoped"])
    assert at.text_input(key="alerts.rule.own_app").value == "shop"
    assert at.text_input(key="alerts.monitor.own_app").value == "shop"
    tables = [d.value for d in at.dataframe if "app" in d.value.columns]
    assert len(tables) == 4  # rules, monitors, deliveries, alert history
    for table in tables:  # the other app's rule, monitor, delivery and alert are not listed
        assert set(table["app"]) == {"shop"}, table
    shown = {value for t in tables for column in t.columns for value in map(str, t[column])}
    assert {"shop-rule", "shop traffic", "shop-mon"} <= shown
    assert not any("news" in value for value in shown)
    assert at.selectbox(key="alerts.rule.pick").options == ["shop-rule"]
    assert at.selectbox(key="alerts.monitor.pick").options == ["shop traffic (shop-mon)"]
    assert at.selectbox(key="alerts.alert.pick").options == [
        o for o in at.selectbox(key="alerts.alert.pick").options if "news" not in o]
    assert len(at.selectbox(key="alerts.alert.pick").options) == 1


def test_deliveries_show_status_and_attempts(app: App, ws: Workspace, hook: str,
                                             people: dict[str, User]) -> None:
    Outbox(ws.db).record([FiringDraft(
        webhook_id="msg_1", source="rule", source_id="big-buys", app_id="shop",
        payload="{}", destination_ids=(hook,), event_id="e1")])
    at = open_alerts(app, people["analyst"])
    table = at.dataframe[0].value  # no rules yet: the first table is the delivery log
    assert list(table["status"]) == ["pending"] and list(table["rule or monitor"]) == [
        "big-buys"]
    assert "Not attempted yet." in texts(at)


def test_alert_history_charts_the_anomalous_points(app: App, ws: Workspace,
                                                   people: dict[str, User]) -> None:
    store = MonitorStore(ws.db)
    monitor = store.add("Checkout", "shop", '{"app_id": "shop"}', "ada")
    points = [{"at": f"2026-10-05T0{h}:00:00+00:00", "value": v, "expected": [8.0, 12.0],
               "anomalous": v > 12} for h, v in enumerate([10, 11, 30, 9])]
    store.open_alert("a1", monitor.monitor_id, "shop", "spike", 1.0, 30.0, 10.0,
                     json.dumps({"resolution": "hour", "points": points}))
    at = open_alerts(app, people["analyst"])
    history = at.dataframe[-1].value
    assert list(history["monitor"]) == ["Checkout"] and list(history["status"]) == ["firing"]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    marked = next(t for t in spec["data"] if t.get("name") == "anomalous")
    assert marked["y"] == [30]


def test_editing_a_rule_replaces_its_json(app: App, ws: Workspace, hook: str,
                                          people: dict[str, User]) -> None:
    at = open_alerts(app, people["analyst"])
    fill_rule(at, hook)
    at.button(key="alerts.rule.save").click().run()
    at.button(key="alerts.rule.edit").click().run()
    assert at.text_input(key="alerts.rule.id").disabled
    assert at.text_input(key="alerts.rule.event_type").value == "purch*"
    at.text_area(key="alerts.rule.conditions").input(
        '{"gte": {"field": "properties.revenue", "value": 50}}')
    at.button(key="alerts.rule.save").click().run()
    assert not at.exception and not at.error
    body = json.loads(RuleStore(ws.db).get("big-buys").rule_json)
    assert body["conditions"] == {"gte": {"field": "properties.revenue", "value": 50}}
    at.button(key="alerts.rule.delete").click().run()
    assert RuleStore(ws.db).list() == []


def test_creating_a_monitor_checks_its_spec(app: App, ws: Workspace, hook: str,
                                            people: dict[str, User]) -> None:
    at = open_alerts(app, people["analyst"])
    at.text_input(key="alerts.monitor.name").input("Revenue")
    at.text_input(key="alerts.monitor.app").input("shop")
    at.selectbox(key="alerts.monitor.metric").select("sum")
    at.button(key="alerts.monitor.save").click().run()
    assert "`bad_metric`" in at.error[0].value  # a sum needs a property
    at.text_input(key="alerts.monitor.property").input("revenue")
    at.multiselect(key="alerts.monitor.destinations").select(hook)
    at.button(key="alerts.monitor.save").click().run()
    assert not at.error, [e.value for e in at.error]
    (made,) = MonitorStore(ws.db).list()
    spec = json.loads(made.spec_json)
    assert (made.name, made.app_id, spec["metric"], spec["property"]) == (
        "Revenue", "shop", "sum", "revenue")
    assert spec["destination_ids"] == [hook]


def test_editing_a_monitor_prefills_the_form_and_replaces_its_spec(
        app: App, ws: Workspace, hook: str, people: dict[str, User]) -> None:
    store = MonitorStore(ws.db)
    spec = {"app_id": "shop", "metric": "sum", "property": "revenue", "event_type": "purchase",
            "breakdown": {"key": "plan", "value": "pro"}, "sensitivity": "high",
            "resolution": "day", "destination_ids": [hook]}
    made = store.add("Revenue", "shop", json.dumps(spec), "ada")
    store.save_state(made.monitor_id, '{"status": "firing"}', 1.0)
    store.open_alert("open-1", made.monitor_id, "shop", "spike", 1.0, 30.0, 10.0)
    at = open_alerts(app, people["analyst"])
    at.button(key="alerts.monitor.edit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="alerts.monitor.app").disabled
    prefilled = {key: at.text_input(key=f"alerts.monitor.{key}").value
                 for key in ("name", "app", "property", "event_type", "breakdown_key",
                             "breakdown_value")}
    assert prefilled == {"name": "Revenue", "app": "shop", "property": "revenue",
                         "event_type": "purchase", "breakdown_key": "plan",
                         "breakdown_value": "pro"}
    assert [at.selectbox(key=f"alerts.monitor.{k}").value for k in (
        "kind", "metric", "resolution", "sensitivity")] == ["anomaly", "sum", "day", "high"]
    assert at.multiselect(key="alerts.monitor.destinations").value == [hook]

    at.selectbox(key="alerts.monitor.kind").select("no_events")
    at.number_input(key="alerts.monitor.silence").set_value(5)
    at.button(key="alerts.monitor.save").click().run()
    assert "`silence_too_short`" in at.error[0].value  # under the settle delay: false alarms
    assert json.loads(store.get(made.monitor_id).spec_json) == spec
    at.number_input(key="alerts.monitor.silence").set_value(30)
    at.text_input(key="alerts.monitor.name").input("Shop silence")
    at.button(key="alerts.monitor.save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success[0].value == ("Monitor Shop silence saved. Its open incident was closed; "
                                   "no notification was sent for it.")
    stored = store.get(made.monitor_id)
    assert stored.name == "Shop silence"
    assert json.loads(stored.spec_json) == {
        "app_id": "shop", "kind": "no_events", "metric": "events", "resolution": "day",
        "sensitivity": "high", "silence_minutes": 30, "destination_ids": [hook]}
    assert store.alerts(monitor_id=made.monitor_id)[0].status == "resolved"
    assert store.load_state(made.monitor_id) is None
    assert at.text_input(key="alerts.monitor.name").value == ""  # the form is new again


@pytest.mark.parametrize("kind", ["rule", "monitor"])
@pytest.mark.parametrize("method", ["get", "set_enabled", "delete"])
def test_one_deleted_meanwhile_is_an_error_not_a_traceback(
        app: App, ws: Workspace, hook: str, people: dict[str, User],
        monkeypatch: pytest.MonkeyPatch, kind: str, method: str) -> None:
    seed_app(ws, "shop", hook)
    at = open_alerts(app, people["analyst"])
    store: type[RuleStore | MonitorStore] = RuleStore if kind == "rule" else MonitorStore
    wrapped, delete = getattr(store, method), store.delete

    def raced(self: RuleStore | MonitorStore, object_id: str, *args: object) -> object:
        with contextlib.suppress(CausalityError):  # someone deletes it just before this call
            delete(self, object_id)  # type: ignore[arg-type]
        return wrapped(self, object_id, *args)

    monkeypatch.setattr(store, method, raced)
    button = {"get": None, "set_enabled": "toggle", "delete": "delete"}[method]
    if button is None:
        at.run()
    else:
        at.button(key=f"alerts.{kind}.{button}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"`unknown_{kind}`" in e.value for e in at.error), [e.value for e in at.error]
