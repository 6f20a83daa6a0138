"""`causality sql` and `causality ask` with --format table|csv|json: stdout holds the data
alone, and nothing when the command fails."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import pyarrow as pa
import pytest
from click.testing import CliRunner, Result

import guardrails.execute
import workspace.analyst
from causality.cli import ai, sql
from causality.cli._app import _Group
from causality.cli._output import to_csv
from tests.workspace.scripted_model import ScriptedModel, anthropic_planner
from warehouse.engines.duckdb_engine import DuckDBEngine

# a comma, a quote, a line break and non-ASCII text in values, a NULL, a list, a timestamp
TRICKY = ("SELECT 'a,b' AS c, 'say \"hi\"' AS q, 'l1\nl2' AS nl, 'Zürich ✓' AS u, "
          "NULL AS n, ARRAY[1, 2] AS arr, event_time, user_id FROM events "
          "WHERE app_id = 'shop' ORDER BY event_time, event_id")


@click.group(cls=_Group)
def cli() -> None:
    """Stands in for `causality.cli.main`."""


for command in (*sql.COMMANDS, *ai.COMMANDS):
    cli.add_command(command)


@pytest.fixture
def env(tmp_path: Path, fixture_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith("CAUSALITY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CAUSALITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CAUSALITY_STORAGE_WAREHOUSE", str(fixture_warehouse))
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def use_script(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr(workspace.analyst, "planner_from_settings",
                        lambda _llm: anthropic_planner(ScriptedModel(name)))


@pytest.mark.parametrize("command", ["sql", "ask"])
def test_help_mentions_the_format(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "--format [table|csv|json]" in result.output


def test_sql_table_is_unchanged_by_default(env: Path) -> None:
    result = run("sql", "SELECT user_id FROM events WHERE app_id = 'shop' LIMIT 1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("-- ran: SELECT user_id FROM events")
    assert "user_id\n-------\n" in result.stdout
    assert "; audit id 1" in result.stdout


def test_sql_csv_parses_back_to_the_engines_values(env: Path, fixture_warehouse: Path) -> None:
    result = run("sql", "--format", "csv", TRICKY)
    assert result.exit_code == 0, result.output
    out = result.stdout_bytes.decode()  # Result.stdout turns CRLF into LF
    assert out.count("\r\n") == out.count("\n") - out.count("l1\nl2")  # RFC 4180 line ends
    assert "-- " not in out  # the data alone
    assert "-- ran: SELECT" in result.stderr and "audit id 1" in result.stderr
    header, first, *rest = parse_csv(out)
    assert header == ["c", "q", "nl", "u", "n", "arr", "event_time", "user_id"]
    assert first == ["a,b", 'say "hi"', "l1\nl2", "Zürich ✓", "", "[1, 2]",
                     "2026-10-04T23:59:00", "u8"]
    engine = DuckDBEngine(fixture_warehouse, memory_limit="1GB")
    try:
        table = engine.run(TRICKY, max_rows=10_000, timeout_s=30).table
    finally:
        engine.close()
    expected = [[v["c"], v["q"], v["nl"], v["u"], "", json.dumps(v["arr"]),
                 v["event_time"].isoformat(), v["user_id"] or ""] for v in table.to_pylist()]
    assert [first, *rest] == expected
    assert len(expected) > 10


def test_sql_json_is_one_document(env: Path) -> None:
    result = run("sql", "--format", "json", "--max-rows", "2", TRICKY)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["columns"][:4] == ["c", "q", "nl", "u"]
    assert doc["rows"][0] == {"c": "a,b", "q": 'say "hi"', "nl": "l1\nl2", "u": "Zürich ✓",
                              "n": None, "arr": [1, 2], "event_time": "2026-10-04T23:59:00",
                              "user_id": "u8"}
    assert doc["row_count"] == len(doc["rows"]) == 2
    assert doc["truncated"] is False and doc["audit_id"] == 1
    assert doc["sql"].endswith("LIMIT 2") and doc["changes"] == ["limit_injected"]
    assert result.stderr == ""


def test_sql_truncation_is_a_field_in_json_and_a_note_in_csv(
        env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The guardrails clamp LIMIT to the row cap, so only the engine's byte cap truncates a
    # result; a stand-in says so here.
    real = guardrails.execute.execute

    def truncating(*args: Any, **kwargs: Any) -> guardrails.execute.Execution:
        done = real(*args, **kwargs)
        return replace(done, result=replace(done.result, truncated=True))

    monkeypatch.setattr(guardrails.execute, "execute", truncating)
    query = "SELECT event_id FROM events"
    as_json = run("sql", "--format", "json", "--max-rows", "3", query)
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.stdout)
    assert doc["truncated"] is True and doc["row_count"] == 3
    as_csv = run("sql", "--format", "csv", "--max-rows", "3", query)
    assert len(parse_csv(as_csv.stdout)) == 4
    assert "-- truncated: only the first 3 rows" in as_csv.stderr


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_sql_error_goes_to_stderr_and_stdout_stays_empty(env: Path, fmt: str) -> None:
    result = run("sql", "--format", fmt, "SELECT nope FROM events")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error [unknown_column]: ")
    assert "hint: known columns" in result.stderr


def test_ask_csv_and_json_give_the_same_rows(env: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    use_script(monkeypatch, "follow_up")
    as_json = run("ask", "events per day", "--app", "shop", "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.stdout)
    assert doc["row_count"] == 3 and doc["truncated"] is False
    assert doc["rows"][0][doc["columns"][0]] == "2026-10-05T00:00:00"  # ISO 8601
    use_script(monkeypatch, "follow_up")
    alias = run("ask", "events per day", "--app", "shop", "--json")
    assert alias.exit_code == 0, alias.output
    same = {k: v for k, v in json.loads(alias.stdout).items() if k not in ("chat_id", "audit_ids")}
    assert same == {k: v for k, v in doc.items() if k not in ("chat_id", "audit_ids")}
    use_script(monkeypatch, "follow_up")
    as_csv = run("ask", "events per day", "--app", "shop", "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    header, *rows = parse_csv(as_csv.stdout)
    assert header == doc["columns"]
    assert rows == [[str(row[c]) for c in header] for row in doc["rows"]]
    assert "-- SQL that ran (trend, 1 attempt)" in as_csv.stderr
    assert "chat: " in as_csv.stderr and "chat: " not in as_csv.stdout


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_ask_errors_leave_stdout_empty(env: Path, monkeypatch: pytest.MonkeyPatch,
                                       fmt: str) -> None:
    unset = run("ask", "How many users?", "--format", fmt)
    assert unset.exit_code == 2 and unset.stdout == ""
    assert "error [no_llm_provider]" in unset.stderr
    use_script(monkeypatch, "prompt_injection_destructive")
    refused = run("ask", "delete everything", "--app", "shop", "--format", fmt)
    assert refused.exit_code == 2 and refused.stdout == ""
    assert "-- attempt 1 refused (not_read_only)" in refused.stderr
    assert "error [answer_failed]" in refused.stderr


def test_ask_json_alias_contradicting_the_format_is_a_usage_error(env: Path) -> None:
    result = run("ask", "x", "--json", "--format", "csv")
    assert result.exit_code == 2 and result.stdout == ""
    assert "--json contradicts --format csv" in result.stderr


def test_csv_cells() -> None:
    table = pa.Table.from_arrays(
        [pa.array([True, None]), pa.array([Decimal("1.10"), None]),
         pa.array([{"k": "é", "n": [1]}, None]),
         pa.array([datetime(2026, 10, 5, 9, 30, tzinfo=UTC), None]), pa.array([b"\x00", None]),
         pa.array([1.5, 2.0])],
        names=["b", "d", "m", "t", "bytes", "b"])  # a repeated name keeps both columns
    header, first, second = parse_csv(to_csv(table))
    assert header == ["b", "d", "m", "t", "bytes", "b"]
    assert first == ["true", "1.10", '{"k": "é", "n": [1]}', "2026-10-05T09:30:00+00:00",
                     "AA==", "1.5"]
    assert second == ["", "", "", "", "", "2.0"]
