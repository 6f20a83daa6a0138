"""Settings page (admins): API keys per app, the model provider's status, the engine's status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine as SqlEngine
from streamlit.testing.v1 import AppTest

from causality.settings import load_settings
from metadata.users import User
from tests.fixtures.ports import free_port
from tests.workspace.app._markdown import shown
from tests.workspace.app.conftest import MAIN, TIMEOUT_S
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.app._context import USER_KEY, WORKSPACE_KEY
from workspace.service import Workspace

App = Callable[..., AppTest]


def open_settings(at: AppTest) -> AppTest:
    at.run()
    at.switch_page("views/settings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def with_workspace(ws: Workspace, user: User) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT_S)
    at.session_state[WORKSPACE_KEY] = ws
    at.session_state[USER_KEY] = user
    return at


def test_admin_creates_and_revokes_an_api_key(app: App, ws: Workspace,
                                              people: dict[str, User]) -> None:
    at = open_settings(app(people["admin"]))
    assert "Apps: news, shop." in at.main.caption[0].value  # apps with events
    at.text_input(key="key_app").input("games")
    at.text_input(key="key_label").input("Android build")
    at.button(key="key_create").click().run()
    plain = at.code[0].value
    key = ws.keys.verify(plain)
    assert key is not None and (key.app_id, key.label) == ("games", "Android build")
    assert "shown only once" in at.success[0].value
    assert "Apps: games, news, shop." in at.main.caption[0].value
    at.run()
    assert not at.code
    at.button(key=f"revoke-key-{key.key_id}").click().run()
    assert ws.keys.verify(plain) is None
    assert any("revoked" in m.value for m in at.markdown)


def test_a_bad_app_name_is_explained(app: App, ws: Workspace, people: dict[str, User]) -> None:
    at = open_settings(app(people["admin"]))
    at.text_input(key="key_app").input("Bad App!")
    at.button(key="key_create").click().run()
    assert "is not allowed" in at.error[0].value and "bad_app_id" in at.error[0].value
    assert ws.keys.list() == []


def test_model_status_says_how_to_set_one_up(app: App, people: dict[str, User]) -> None:
    at = open_settings(app(people["admin"]))
    assert "CAUSALITY_LLM_PROVIDER" in " ".join(c.value for c in at.main.caption)
    assert at.warning[0].value


def test_model_status_names_the_configured_model(engine: object, db: SqlEngine, tmp_path: Path,
                                                 people: dict[str, User]) -> None:
    settings = load_settings(data_dir=tmp_path, llm={"provider": "anthropic",
                                                     "anthropic_api_key": "sk-ant-test"})
    ws = Workspace(settings, engine=engine, db=db)  # type: ignore[arg-type]
    at = open_settings(with_workspace(ws, people["admin"]))
    assert "anthropic · claude-sonnet-5" in shown(at.success[0].value)


def test_engine_status(app: App, people: dict[str, User]) -> None:
    at = open_settings(app(people["admin"]))
    assert any("duckdb answers: 1 table" in s.value for s in at.success)


def test_engine_status_shows_the_day_cache(fixture_warehouse: Path, db: SqlEngine,
                                          tmp_path: Path, people: dict[str, User]) -> None:
    engine = DuckDBEngine(fixture_warehouse, memory_limit="1GB", cache_mb=64)
    try:
        assert engine.wait_cache(60)
        ws = Workspace(load_settings(data_dir=tmp_path), engine=engine, db=db)
        at = open_settings(with_workspace(ws, people["admin"]))
        captions = " ".join(c.value for c in at.main.caption)
        assert "Day cache: 10 closed days, 34 rows" in captions  # every day of the fixture
    finally:
        engine.close()


def test_engine_failure_shows_its_code_and_hint(db: SqlEngine, tmp_path: Path,
                                                people: dict[str, User]) -> None:
    settings = load_settings(data_dir=tmp_path, query={"engine": "trino"},
                             trino={"port": free_port()})  # nothing listens there
    at = open_settings(with_workspace(Workspace(settings, db=db), people["admin"]))
    assert "Configured engine: **trino**" in at.markdown[0].value
    assert "engine_unavailable" in at.error[0].value
    assert any(c.value.startswith("Hint:") for c in at.main.caption)


def test_analyst_cannot_open_settings(app: App, people: dict[str, User]) -> None:
    at = app(people["analyst"]).run()
    try:
        at.switch_page("views/settings.py")
    except ValueError:
        return
    raise AssertionError("an analyst reached the Settings page")
