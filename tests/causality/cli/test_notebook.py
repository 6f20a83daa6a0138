"""`causality notebook export` (a dashboard, a chat, one turn) and `causality notebook run`."""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from causality.cli import main
from causality.settings import load_settings
from metadata.audit import AuditLog
from tests.workspace.events_fixture import TENANT, write_warehouse
from tests.workspace.notebooks.test_notebooks import run_in_process
from tests.workspace.scripted_model import ScriptedModel, anthropic_planner
from tests.workspace.test_api import point_settings_at
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.analyst import AnswerFailed, Session
from workspace.notebooks import NotebookQuery, notebook_source
from workspace.service import Workspace


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_warehouse(tmp_path_factory.mktemp("cli-notebook-wh"))


@pytest.fixture
def workspace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
              warehouse: Path) -> Iterator[Workspace]:
    point_settings_at(monkeypatch, tmp_path, warehouse)
    monkeypatch.setenv("CAUSALITY_ACTOR", "cli-test")
    engine = DuckDBEngine(warehouse, memory_limit="1GB")
    ws = Workspace(load_settings(), engine=engine)
    yield ws
    ws.close()


def chat(ws: Workspace, script_name: str, questions: list[str]) -> Session:
    """A stored chat: each question answered by the scripted model replies, in order."""
    ws = Workspace(ws.settings, engine=ws.engine, db=ws.db,
                   planner=anthropic_planner(ScriptedModel(script_name)))
    user = ws.users.add("ann", None, "analyst")
    session = Session(app_id=TENANT, actor=user.username)
    for question in questions:
        with contextlib.suppress(AnswerFailed):  # a failed turn is stored too, without SQL
            ws.ask(question, session, user)
    return session


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def queries_in(source: str) -> list[str]:
    """The SQL literals assigned to sql_<n> in a notebook's source."""
    return [str(node.value.value) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            and getattr(node.targets[0], "id", "").startswith("sql_")]


def test_a_dashboard_exports_and_runs(workspace: Workspace, tmp_path: Path) -> None:
    board = workspace.dashboards.create("Shop", owner="ann", app_id=TENANT)
    for title, sql in (("All events", "SELECT count(*) AS n FROM events"),
                       ("Buyers", "SELECT count(DISTINCT user_id) AS buyers FROM events "
                                  "WHERE event_type = 'purchase'")):
        workspace.dashboards.add_tile(board.dashboard_id, title=title, sql=sql, created_by="ann")
    out = tmp_path / "shop.py"
    exported = cli("notebook", "export", "--dashboard", board.dashboard_id, "-o", str(out))
    assert exported.exit_code == 0, exported.output
    assert f"wrote {out} (2 queries for app {TENANT})" in exported.stderr
    assert len(queries_in(out.read_text())) == 2
    ran = cli("notebook", "run", str(out))
    assert ran.exit_code == 0, ran.output
    rows = [r for r in AuditLog(workspace.db).tail(20) if r["actor"] == "cli-test"]
    assert [(r["source"], r["verdict"], r["rows"]) for r in rows] == [("notebook", "ok", 1)] * 2
    assert all(f"app_id = '{TENANT}'" in str(r["sql_run"]) for r in rows)


def test_a_chat_exports_every_answer_or_one_turn(workspace: Workspace, tmp_path: Path) -> None:
    session = chat(workspace, "follow_up", ["events per day", "now by country",
                                            "only the last day"])
    printed = cli("notebook", "export", "--chat", session.chat_id)
    assert printed.exit_code == 0, printed.output
    assert queries_in(printed.stdout) == [t.sql for t in session.turns]
    out = tmp_path / "turn2.py"
    one = cli("notebook", "export", "--chat", session.chat_id, "--turn", "2", "-o", str(out))
    assert one.exit_code == 0, one.output
    assert queries_in(out.read_text()) == [session.turns[1].sql]
    defs = run_in_process(out)
    assert defs["table_1"].column("breakdown").to_pylist() == [  # type: ignore[attr-defined]
        "US", "other", "US", "other", "US"]  # as in test_ask's follow-up


def test_a_chat_turn_keeps_the_answers_chart(workspace: Workspace, tmp_path: Path) -> None:
    """The model's chart named a missing column; the answer fell back to a funnel, and so
    does the notebook."""
    session = chat(workspace, "unknown_event", ["signup to purchase funnel"])
    out = tmp_path / "funnel.py"
    assert cli("notebook", "export", "--chat", session.chat_id, "-o", str(out)).exit_code == 0
    defs = run_in_process(out)
    assert defs["table_1"].column("users").to_pylist() == [5, 3, 2]  # type: ignore[attr-defined]
    assert defs["figure_1"].data[0].type == "funnel"  # type: ignore[attr-defined]


def test_failed_turns_are_not_exported(workspace: Workspace) -> None:
    session = chat(workspace, "prompt_injection_destructive", ["delete every event"])
    result = cli("notebook", "export", "--chat", session.chat_id)
    assert result.exit_code == 2
    assert "error [no_answer]" in result.stderr and "hint:" in result.stderr
    result = cli("notebook", "export", "--chat", session.chat_id, "--turn", "5")
    assert result.exit_code == 2 and "error [unknown_turn]" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_ids_and_bad_options_get_a_clear_message(workspace: Workspace) -> None:
    result = cli("notebook", "export", "--dashboard", "nope")
    assert result.exit_code == 2 and "error [unknown_dashboard]" in result.stderr
    result = cli("notebook", "export", "--chat", "nope")
    assert result.exit_code == 2 and "error [unknown_chat]" in result.stderr
    board = workspace.dashboards.create("Empty", owner="ann")
    result = cli("notebook", "export", "--dashboard", board.dashboard_id)
    assert result.exit_code == 2 and "error [empty_dashboard]" in result.stderr
    for args in ([], ["--dashboard", "a", "--chat", "b"], ["--dashboard", "a", "--turn", "1"]):
        result = cli("notebook", "export", *args)
        assert result.exit_code == 2 and "Error:" in result.stderr
    assert "Traceback" not in result.output


def test_run_passes_the_notebooks_exit_code(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "refused.py"
    path.write_text(notebook_source("refused", [NotebookQuery("x", "DELETE FROM events")],
                                    app_id=None))
    assert cli("notebook", "run", str(path)).exit_code == 1
    assert cli("notebook", "run", str(tmp_path / "missing.py")).exit_code == 2


def test_run_hands_the_config_file_to_the_notebook(
        workspace: Workspace, tmp_path: Path, warehouse: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAUSALITY_STORAGE_WAREHOUSE")
    monkeypatch.setenv("CAUSALITY_DATA_DIR", str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    config = tmp_path / "causality.toml"
    config.write_text(f'[storage]\nwarehouse = "{warehouse}"\n')
    path = tmp_path / "count.py"
    path.write_text(notebook_source("ids", [NotebookQuery("ids", "SELECT event_id FROM events")],
                                    app_id=None))
    assert cli("notebook", "run", str(path)).exit_code == 0
    assert cli("--config", str(config), "notebook", "run", str(path)).exit_code == 0
    rows = [r for r in AuditLog(workspace.db).tail(5) if r["actor"] == "cli-test"]
    # without the file the notebook reads <data_dir>/warehouse, which is empty
    assert [(r["verdict"], r["rows"]) for r in rows] == [("ok", 0), ("ok", 34)]
