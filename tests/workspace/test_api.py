"""The public Python API (`causality.api`, over `workspace.api`): settings from env or a file,
every query through the guardrails and into the audit log, tenant scope, charts and typed
insights."""

from __future__ import annotations

import getpass
import os
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine as SqlEngine

import causality.api
import workspace.api
import workspace.notebooks
from causality.api import connect
from causality.errors import CausalityError, ConfigError
from charts import ChartSpec
from metadata.audit import AuditLog
from tests.workspace.events_fixture import OTHER_APP, TENANT
from workspace.api import DateRange, Funnel, FunnelStep, Rejected, Trend


def point_settings_at(monkeypatch: pytest.MonkeyPatch, data_dir: Path, warehouse: Path) -> None:
    """CAUSALITY_* env for `connect()`: the fixture warehouse, a metadata db in data_dir."""
    for name in [k for k in os.environ if k.startswith("CAUSALITY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CAUSALITY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CAUSALITY_STORAGE_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CAUSALITY_METADATA_URL", f"sqlite:///{data_dir / 'meta.db'}")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fixture_warehouse: Path) -> None:
    point_settings_at(monkeypatch, tmp_path, fixture_warehouse)


def last_audit(db: SqlEngine) -> dict[str, object]:
    return AuditLog(db).tail(1)[0]


def test_the_python_api_is_the_client_plus_connect() -> None:
    assert set(causality.api.__all__) == {*workspace.api.__all__, "connect"}


def test_query_runs_through_the_guardrails_and_is_audited(db: SqlEngine) -> None:
    with connect(actor="ana") as cz:
        table = cz.query("SELECT count(*) AS n FROM events")
    assert table.to_pylist() == [{"n": 34}]  # every app: 31 shop + 3 news
    row = last_audit(db)
    assert (row["actor"], row["source"], row["verdict"], row["rows"]) == (
        "ana", "notebook", "ok", 1)
    assert "LIMIT 10000" in str(row["sql_run"])  # the guardrails' row cap was injected


def test_a_write_is_rejected_with_code_and_hint_and_audited(db: SqlEngine) -> None:
    with connect(actor="mallory") as cz:
        with pytest.raises(Rejected) as caught:
            cz.query("DELETE FROM events WHERE app_id = 'news'")
        assert isinstance(caught.value, CausalityError)
        assert caught.value.code == "not_read_only" and caught.value.hint
        row = last_audit(db)
        assert (row["actor"], row["source"], row["verdict"], row["code"], row["sql_run"]) == (
            "mallory", "notebook", "rejected", "not_read_only", None)
        assert cz.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 34}]


def test_unknown_column_comes_back_with_a_suggestion() -> None:
    with connect(actor="ana") as cz, pytest.raises(Rejected) as caught:
        cz.query("SELECT usr_id FROM events")
    assert caught.value.code == "unknown_column"
    assert caught.value.hint == "did you mean user_id?"


def test_a_scoped_client_sees_only_its_app(db: SqlEngine) -> None:
    with connect(actor="sam", app_id=TENANT) as cz:
        rows = cz.query("SELECT app_id, count(*) AS n FROM events GROUP BY app_id").to_pylist()
        assert rows == [{"app_id": TENANT, "n": 31}]
        assert f"app_id = '{TENANT}'" in str(last_audit(db)["sql_run"])
        # even a query that names the other app directly gets nothing of it
        sneaky = cz.query(f"SELECT count(*) AS n FROM events WHERE app_id = '{OTHER_APP}'")
        assert sneaky.to_pylist() == [{"n": 0}]
        with pytest.raises(CausalityError) as caught:
            cz.query("SELECT 1 AS one", app_id=OTHER_APP)
        assert caught.value.code == "forbidden"


def test_an_unscoped_client_can_narrow_one_query() -> None:
    with connect(actor="ana") as cz:
        rows = cz.query("SELECT count(*) AS n FROM events", app_id=OTHER_APP).to_pylist()
        assert rows == [{"n": 3}]
        with pytest.raises(CausalityError) as caught:
            cz.query("SELECT 1 AS one", app_id="no such app!")
        assert caught.value.code == "bad_app_id"
    with pytest.raises(CausalityError) as bad:
        connect(app_id="'; DROP TABLE events; --")
    assert bad.value.code == "bad_app_id"


def test_actor_defaults_to_env_then_os_user(monkeypatch: pytest.MonkeyPatch,
                                            db: SqlEngine) -> None:
    with connect() as cz:
        assert cz.actor == f"notebook:{getpass.getuser()}"
    monkeypatch.setenv("CAUSALITY_ACTOR", "ci-bot")
    with connect() as cz:
        cz.query("SELECT 1 AS one")
    assert last_audit(db)["actor"] == "ci-bot"


def test_settings_come_from_a_file_or_the_config_env(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path,
                                                     fixture_warehouse: Path) -> None:
    monkeypatch.delenv("CAUSALITY_STORAGE_WAREHOUSE")
    config = tmp_path / "causality.toml"
    config.write_text(f'[storage]\nwarehouse = "{fixture_warehouse}"\n[query]\nmax_rows = 2\n')
    with connect(config, actor="ana") as cz:
        assert cz.query("SELECT event_id FROM events").num_rows == 2
    monkeypatch.setenv("CAUSALITY_CONFIG", str(config))
    with connect(actor="ana") as cz:
        assert cz.query("SELECT event_id FROM events").num_rows == 2
    with pytest.raises(ConfigError) as caught:
        connect(tmp_path / "missing.toml")
    assert caught.value.code == "config_file_missing" and caught.value.hint


def test_chart_draws_the_spec_or_picks_one() -> None:
    with connect(actor="ana", app_id=TENANT) as cz:
        table = cz.query("SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 1")
        auto = cz.chart(table)
        assert auto.data[0].type == "bar"
        assert list(auto.data[0].y) == [7, 10, 5, 9]  # activation, page, purchase, signup
        line = cz.chart(table, ChartSpec(kind="line", x="event_type", y=["n"], title="Mix"))
        assert line.data[0].type == "scatter" and line.layout.title.text == "Mix"
        # a spec naming a column the table lacks falls back, as on dashboards, keeping the title
        fallback = cz.chart(table, ChartSpec(kind="line", x="nope", y=["n"], title="Kept"))
        assert fallback.data[0].type == "bar" and fallback.layout.title.text == "Kept"


def test_insight_compiles_and_runs_under_the_scope(db: SqlEngine) -> None:
    days = DateRange(start=date(2026, 10, 5), end=date(2026, 10, 7))
    with connect(actor="ana", app_id=TENANT) as cz:
        trend = cz.insight(Trend(measure="events", interval="day", date_range=days))
        assert trend.column("value").to_pylist() == [7, 8, 6]  # as in test_ask's trend
        assert last_audit(db)["question"] == "(trend insight)"
        funnel = cz.insight(Funnel(steps=[FunnelStep(event="signup"),
                                          FunnelStep(event="activation"),
                                          FunnelStep(event="purchase")],
                                   window=1, window_unit="day", date_range=days))
        assert funnel.column("users").to_pylist() == [5, 3, 2]
        assert cz.chart(funnel, insight="funnel").data[0].type == "funnel"
    assert last_audit(db)["source"] == "notebook"


def test_catalog_lists_columns_and_types() -> None:
    with connect(actor="ana") as cz:
        rows = cz.catalog().to_pylist()
    assert {"table": "events", "column": "app_id", "type": "varchar"} in rows
    assert {"table": "events", "column": "event_time", "type": "timestamp(6)"} in rows
    assert len(rows) == 13
