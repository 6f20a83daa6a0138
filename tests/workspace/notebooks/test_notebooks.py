"""Answers and dashboards exported as marimo notebooks reproduce their numbers and charts:
run by marimo in this process, as a script, and by `marimo export html`."""

from __future__ import annotations

import ast
import html
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from causality.errors import CausalityError
from causality.settings import load_settings
from charts import ChartSpec, to_figure
from metadata.audit import AuditLog
from tests.workspace.events_fixture import TENANT
from tests.workspace.scripted_model import ScriptedModel, anthropic_planner
from tests.workspace.test_api import point_settings_at
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.analyst import Answer, Session
from workspace.notebooks import NotebookError, NotebookQuery, notebook_source
from workspace.service import Workspace

EXPLORE = Path(__file__).resolve().parents[3] / "causality" / "explore.py"
RUN_TIMEOUT_S = 240


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fixture_warehouse: Path) -> None:
    point_settings_at(monkeypatch, tmp_path, fixture_warehouse)


def ask_scripted(script_name: str, question: str, engine: DuckDBEngine, db: SqlEngine,
                 app_id: str | None = TENANT) -> tuple[Workspace, Answer]:
    """`Workspace.ask` with the model's reply served from a hand-written script."""
    ws = Workspace(load_settings(), engine=engine, db=db,
                   planner=anthropic_planner(ScriptedModel(script_name)))
    user = ws.users.add("ann", None, "analyst")
    return ws, ws.ask(question, Session(app_id=app_id, actor=user.username), user)


def answer_query(answer: Answer) -> NotebookQuery:
    return NotebookQuery(title=answer.question, sql=answer.sql, chart=answer.chart,
                         insight=answer.insight_kind)


def run_in_process(path: Path) -> Mapping[str, Any]:
    """Load the notebook as a module and let marimo run it; its variables."""
    return run_with_outputs(path)[1]


def run_with_outputs(path: Path) -> tuple[list[Any], Mapping[str, Any]]:
    """Load the notebook as a module and let marimo run it; its cells' outputs, its variables."""
    spec = importlib.util.spec_from_file_location(f"nb_{path.stem}_{id(path)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outputs, defs = module.app.run()
    defs["cz"].close()
    return list(outputs), dict(defs)


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "CAUSALITY_ACTOR": "notebook-ci"}


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=subprocess_env(), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, check=False)


def decoded(page: str) -> str:
    """The exported page with its nested JSON and HTML escapes undone, for searching."""
    import html
    import re

    for _ in range(5):
        page = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
        page = html.unescape(page).replace("\\", "")
    return page


def test_an_exported_answer_reproduces_its_numbers_and_chart_in_marimo(
        engine: DuckDBEngine, db: SqlEngine, tmp_path: Path) -> None:
    _, answer = ask_scripted("trend_plan", "How many events per day?", engine, db)
    assert answer.table.column("value").to_pylist() == [7, 8, 6]
    path = tmp_path / "answer.py"
    path.write_text(notebook_source("Events per day", [answer_query(answer)], app_id=TENANT))
    defs = run_in_process(path)
    assert defs["table_1"].equals(answer.table)
    assert defs["figure_1"].to_dict() == to_figure(answer.chart, answer.table).to_dict()
    row = AuditLog(db).tail(1)[0]
    assert (row["source"], row["verdict"], row["rows"]) == ("notebook", "ok", 3)


def test_an_exported_answer_runs_as_a_script_and_as_a_headless_html_export(
        engine: DuckDBEngine, db: SqlEngine, tmp_path: Path) -> None:
    _, answer = ask_scripted("trend_plan", "How many events per day?", engine, db)
    path = tmp_path / "notebook.py"
    path.write_text(notebook_source("Daily events, shop", [answer_query(answer)],
                                    app_id=TENANT))
    script = run([sys.executable, str(path)], tmp_path)
    assert script.returncode == 0, script.stderr
    [row] = [r for r in AuditLog(db).tail(50) if r["actor"] == "notebook-ci"]
    assert (row["source"], row["verdict"], row["rows"]) == ("notebook", "ok", 3)
    out = tmp_path / "out.html"
    page = run([sys.executable, "-m", "marimo", "export", "html", str(path), "-o", str(out)],
               tmp_path)
    assert page.returncode == 0, page.stderr
    text = decoded(out.read_text())
    assert "Daily events, shop" in text and "How many events per day?" in text
    assert '"y":[7,8,6]' in text  # the chart's numbers, computed during the export
    assert len([r for r in AuditLog(db).tail(50) if r["actor"] == "notebook-ci"]) == 2


def test_a_dashboard_with_two_tiles_exports_and_runs(
        engine: DuckDBEngine, db: SqlEngine, tmp_path: Path) -> None:
    ws, answer = ask_scripted("trend_plan", "How many events per day?", engine, db)
    board = ws.dashboards.create("Shop overview", owner="ann", app_id=TENANT)
    ws.dashboards.add_tile(board.dashboard_id, title="Events per day", sql=answer.sql,
                           chart=answer.chart, insight=answer.insight_kind, created_by="ann")
    mix = ChartSpec(kind="bar", x="event_type", y=["n"], title="Event mix")
    ws.dashboards.add_tile(board.dashboard_id, title="Event mix", created_by="ann", chart=mix,
                           sql="SELECT event_type, count(*) AS n FROM events GROUP BY 1 "
                               "ORDER BY 1")
    queries = [NotebookQuery(title=t.title, sql=t.sql, chart=t.chart, insight=t.insight)
               for t in ws.dashboards.tiles(board.dashboard_id)]
    path = tmp_path / "board.py"
    path.write_text(notebook_source(board.name, queries, app_id=board.app_id))
    defs = run_in_process(path)
    assert defs["table_1"].column("value").to_pylist() == [7, 8, 6]
    assert defs["table_2"].to_pylist() == [
        {"event_type": "activation", "n": 7}, {"event_type": "page", "n": 10},
        {"event_type": "purchase", "n": 5}, {"event_type": "signup", "n": 9}]
    assert defs["chart_2"] == mix
    assert defs["figure_1"].data[0].type == "scatter"
    assert list(defs["figure_2"].data[0].y) == [7, 10, 5, 9]
    assert defs["figure_2"].layout.title.text == "Event mix"


HOSTILE = ('He said "hi" \'it\'s\' """ \'\'\' \\ back\\slash\n'
           '__import__("pathlib").Path("PWNED").touch() {n} {{x}} \\n <script>x</script>')
HOSTILE_SQL = ("SELECT '\"\"\"'' \\ {n}\n__import__(''os'')' AS label, count(*) AS n\n"
               "FROM events -- \"\"\" ''' \\\n")
HOSTILE_LABEL = "\"\"\"' \\ {n}\n__import__('os')"


def test_hostile_titles_and_sql_stay_data(tmp_path: Path) -> None:
    chart = ChartSpec(kind="number", y=["n"], title=HOSTILE)
    source = notebook_source(HOSTILE, [NotebookQuery(HOSTILE, HOSTILE_SQL, chart, HOSTILE)],
                             app_id=None)
    tree = ast.parse(source)
    texts = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert {HOSTILE, HOSTILE_SQL, chart.model_dump_json()} <= texts
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert "__import__" not in names
    path = tmp_path / "hostile.py"
    path.write_text(source)
    defs = run_in_process(path)
    assert defs["sql_1"] == HOSTILE_SQL  # the exact SQL ran
    assert defs["table_1"].to_pylist() == [{"label": HOSTILE_LABEL, "n": 34}]
    assert defs["chart_1"] == chart
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


def test_query_fields_must_be_text_and_repr_cannot_be_overridden(tmp_path: Path) -> None:
    class Sneaky(str):
        def __repr__(self) -> str:
            return "__import__('os').getcwd()"

    source = notebook_source(Sneaky("t"), [NotebookQuery(Sneaky("t"), "SELECT 1 AS one")],
                             app_id=None)
    assert "__import__" not in source
    with pytest.raises(NotebookError) as caught:
        NotebookQuery(title="t", sql=["SELECT 1"])  # type: ignore[arg-type]
    assert caught.value.code == "bad_notebook_query"
    with pytest.raises(NotebookError) as empty:
        notebook_source("nothing", [], app_id=None)
    assert empty.value.code == "empty_notebook" and empty.value.hint


def test_a_tenant_scoped_export_returns_only_that_tenants_numbers(tmp_path: Path) -> None:
    sql = "SELECT app_id, count(*) AS n FROM events GROUP BY app_id ORDER BY app_id"
    queries = [NotebookQuery("Events by app", sql),
               NotebookQuery("News", "SELECT count(*) AS n FROM events WHERE app_id = 'news'")]
    scoped, unscoped = tmp_path / "scoped.py", tmp_path / "unscoped.py"
    scoped.write_text(notebook_source("Scoped", queries, app_id=TENANT))
    unscoped.write_text(notebook_source("All apps", queries, app_id=None))
    mine = run_in_process(scoped)
    assert mine["table_1"].to_pylist() == [{"app_id": TENANT, "n": 31}]
    assert mine["table_2"].to_pylist() == [{"n": 0}]
    everyone = run_in_process(unscoped)
    assert everyone["table_1"].to_pylist() == [{"app_id": "news", "n": 3},
                                               {"app_id": TENANT, "n": 31}]
    assert everyone["table_2"].to_pylist() == [{"n": 3}]
    with pytest.raises(CausalityError) as bad:
        notebook_source("x", queries, app_id="no such app!")
    assert bad.value.code == "bad_app_id"


def test_the_starter_notebook_runs_as_a_script(db: SqlEngine, tmp_path: Path) -> None:
    done = run([sys.executable, str(EXPLORE)], tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [r for r in AuditLog(db).tail(50) if r["actor"] == "notebook-ci"]
    assert {r["source"] for r in rows} == {"notebook"}
    assert [r["verdict"] for r in rows].count("ok") == 3  # span, by type, trend
    assert any(r["question"] == "(trend insight)" and r["verdict"] == "ok" for r in rows)
    [refused] = [r for r in rows if r["verdict"] == "rejected"]
    assert refused["code"] == "not_read_only"


def test_the_starter_notebook_shows_the_fixture_numbers() -> None:
    defs = run_in_process(EXPLORE)
    assert defs["span"].to_pylist() == [
        {"first_day": "2026-10-04", "last_day": "2026-10-21", "events": 34}]
    assert dict(zip(defs["by_type"]["event_type"].to_pylist(),
                    defs["by_type"]["events"].to_pylist(), strict=True)) == {
        "page": 10, "signup": 10, "activation": 8, "purchase": 6}
    assert set(defs["daily_users"].column_names) == {"period", "breakdown", "value"}
    assert defs["refusal"]["code"] == "not_read_only"
    assert ("events", "app_id", "varchar") in {
        (r["table"], r["column"], r["type"]) for r in defs["catalog"].to_pylist()}


def test_titles_are_shown_as_written_not_as_markdown_or_html(tmp_path: Path) -> None:
    title = "[click](javascript:alert(1)) **bold** <i>x</i> ![img](http://x/y.png) # _u_"
    source = notebook_source(title, [NotebookQuery(title, "SELECT 1 AS n")], app_id=None)
    path = tmp_path / "titles.py"
    path.write_text(source)
    outputs, _ = run_with_outputs(path)
    pages = [str(getattr(out, "text", "")) for out in outputs if out is not None]
    headings = [page for page in pages if "click" in page]
    assert len(headings) >= 2  # the notebook's title and the query's
    for page in headings:
        assert "<a" not in page and "<strong>" not in page and "<img" not in page
        assert "<i>" not in page and "<em>" not in page
        assert "**bold**" in html.unescape(re.sub(r"<[^>]+>", "", page))
