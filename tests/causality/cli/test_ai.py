"""`causality ask`, `eval` and `verified` through click, as `causality.cli` registers them."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import workspace.analyst
from causality.cli._app import _Group
from causality.cli.ai import COMMANDS, format_table
from metadata import open_db
from metadata.audit import AuditLog
from tests.workspace.scripted_model import ScriptedModel, anthropic_planner


@click.group(cls=_Group)
def cli() -> None:
    """Stands in for `causality.cli.main`."""


for command in COMMANDS:
    cli.add_command(command)


@pytest.fixture
def env(tmp_path: Path, fixture_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in __import__("os").environ if k.startswith("CAUSALITY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CAUSALITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CAUSALITY_STORAGE_WAREHOUSE", str(fixture_warehouse))
    return tmp_path


def use_script(monkeypatch: pytest.MonkeyPatch, name: str) -> ScriptedModel:
    scripted = ScriptedModel(name)
    monkeypatch.setattr(workspace.analyst, "planner_from_settings",
                        lambda _llm: anthropic_planner(scripted))
    return scripted


def test_every_command_has_help() -> None:
    for name in ("ask", "eval", "verified"):
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, result.output


def test_ask_without_a_provider_says_what_to_set(env: Path) -> None:
    result = CliRunner().invoke(cli, ["ask", "How many users?"])
    assert result.exit_code == 2
    assert "error [no_llm_provider]" in result.output
    assert "CAUSALITY_LLM_ANTHROPIC_API_KEY" in result.output
    assert "CAUSALITY_LLM_OPENAI_BASE_URL" in result.output
    assert "Traceback" not in result.output


def test_ask_prints_the_sql_and_table_and_writes_the_chart(
        env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_script(monkeypatch, "follow_up")
    out = env / "chart.html"
    result = CliRunner().invoke(cli, ["ask", "events per day", "--app", "shop",
                                      "--html", str(out)])
    assert result.exit_code == 0, result.output
    assert "-- SQL that ran (trend, 1 attempt)" in result.output
    assert "WHERE app_id = 'shop'" in result.output
    assert "2026-10-05 00:00:00  7" in result.output
    assert "(3 rows)" in result.output
    assert out.stat().st_size > 1_000_000  # plotly.js inlined: works offline
    chat_id = result.output.split("chat: ")[1].split()[0]
    follow = CliRunner().invoke(cli, ["ask", "now by country", "--chat", chat_id, "--json"])
    assert follow.exit_code == 0, follow.output
    data = json.loads(follow.output)
    assert data["chat_id"] == chat_id and data["plan"]["query"]["breakdown"]["limit"] == 1
    assert data["chart"]["kind"] == "stacked_bar"
    rows = AuditLog(open_db(f"sqlite:///{env / 'meta.db'}")).tail(50)
    assert any(r["source"] == "chat" and r["actor"] == "cli" and r["verdict"] == "ok"
               for r in rows)


def test_ask_refused_everywhere_shows_each_attempt(
        env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_script(monkeypatch, "prompt_injection_destructive")
    result = CliRunner().invoke(cli, ["ask", "delete everything", "--app", "shop"])
    assert result.exit_code == 2
    assert "-- attempt 1 refused (not_read_only):\nDELETE FROM events" in result.output
    assert "error [answer_failed]" in result.output


def test_eval_writes_a_report(env: Path, monkeypatch: pytest.MonkeyPatch,
                              fixture_warehouse: Path) -> None:
    from tests.workspace.evals.test_eval import MINI_SET

    use_script(monkeypatch, "eval_answers")
    questions = env / "q.json"
    questions.write_text(json.dumps(MINI_SET))
    report = env / "out" / "report.json"
    result = CliRunner().invoke(cli, ["eval", "--questions", str(questions), "--report",
                                      str(report), "--warehouse", str(fixture_warehouse)])
    assert result.exit_code == 0, result.output
    assert "1/2 correct (execution accuracy 50.0%)" in result.output
    data = json.loads(report.read_text())
    assert data["summary"]["correct"] == 1
    assert [r["id"] for r in data["results"]] == ["types", "users"]


def test_verified_add_list_remove(env: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(cli, ["verified", "add", "--question", "Daily events",
                                "--sql", "SELECT dt, count(*) FROM events GROUP BY dt",
                                "--by", "maria"])
    assert added.exit_code == 0, added.output
    insight = ('{"kind": "trend", "date_range": {"last_days": 7}, "measure": "users"}')
    added = runner.invoke(cli, ["verified", "add", "--question", "Weekly users", "--insight",
                                insight, "--by", "li", "--app", "shop"])
    assert added.exit_code == 0, added.output
    refused = runner.invoke(cli, ["verified", "add", "--question", "x", "--sql",
                                  "DELETE FROM events", "--by", "maria"])
    assert refused.exit_code == 2 and "not_read_only" in refused.output
    listed = runner.invoke(cli, ["verified", "list"])
    assert "Daily events  [all apps; maria" in listed.output
    assert "Weekly users  [shop; li" in listed.output
    assert runner.invoke(cli, ["verified", "remove", "1"]).exit_code == 0
    gone = runner.invoke(cli, ["verified", "remove", "1"])
    assert gone.exit_code == 2 and "unknown_verified_query" in gone.output


def test_format_table() -> None:
    import pyarrow as pa

    text = format_table(pa.table({"a": [1, None], "b": ["x" * 50, "y"]}), max_rows=1)
    assert text.splitlines()[0].split() == ["a", "b"]
    assert "…" in text and "(2 rows, 1 not shown)" in text
