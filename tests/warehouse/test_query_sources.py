"""Query sources: one list for the guardrails, the engines and Trino's resource groups."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest

from guardrails import Policy
from guardrails.execute import RateLimiter, Source, execute
from warehouse.engines import QUERY_SOURCES
from warehouse.engines.duckdb_engine import DuckDBEngine
from warehouse.trino import config as ts


def test_the_guardrails_the_engines_and_trino_know_the_same_sources() -> None:
    assert get_args(Source) == QUERY_SOURCES == ("dashboard", "embed", "chat", "sql", "notebook")
    assert sorted(ts.VIEWER_SOURCES + ts.ADHOC_SOURCES) == sorted(QUERY_SOURCES)
    assert [ts.client_source(s) for s in QUERY_SOURCES] == [
        "causality-dashboard", "causality-embed", "causality-chat", "causality-sql",
        "causality-notebook"]
    assert ts.client_source(None) == ts.client_source("ai") == "causality"
    assert ts.resource_group("sql") == ["causality", "adhoc", "sql"]
    assert ts.resource_group("embed") == ["causality", "embed"]
    assert ts.resource_group(None) == ts.resource_group("human") == ["causality", "internal"]


def test_execute_hands_its_source_to_the_engine_and_duckdb_ignores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = DuckDBEngine(tmp_path)
    real_run, sources = engine.run, []

    def run(sql: str, max_rows: int, timeout_s: float, source: str | None = None) -> Any:
        sources.append(source)
        return real_run(sql, max_rows, timeout_s, source=source)

    monkeypatch.setattr(engine, "run", run)
    try:
        done = execute("SELECT 1 AS x", engine=engine, policy=Policy(queries_per_minute=None),
                       actor="test", source="embed", limiter=RateLimiter())
        assert done.table.to_pylist() == [{"x": 1}]
        assert sources == ["embed"]
        assert engine.explain("SELECT 1 AS x", source="sql") == engine.explain("SELECT 1 AS x")
    finally:
        engine.close()
