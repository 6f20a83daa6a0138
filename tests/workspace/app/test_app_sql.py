"""The SQL page: estimate before running, results and their downloads, rejections, the
tenant scope, and cancelling a running query without touching anyone else's."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from functools import partial

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from streamlit.testing.v1 import AppTest

from metadata.users import User
from tests.workspace.app._helpers import SLOW_SQL, downloads, open_page, texts
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.app._sql_run import QueryJob, own_engine, run_guarded
from workspace.service import Workspace

__all__ = ["downloads"]  # the fixture

PER_DAY = ("SELECT dt, count(*) AS events FROM events "
           "WHERE dt BETWEEN '2026-10-05' AND '2026-10-07' GROUP BY dt ORDER BY dt")
# Hand count (tests/workspace/insights/test_numbers.py): shop has 7, 8 and 6 events on
# 10-05..10-07; news adds u7's signup, activation and purchase on 10-05.
SHOP_PER_DAY = [("2026-10-05", 7), ("2026-10-06", 8), ("2026-10-07", 6)]


def write(at: AppTest, sql: str) -> None:
    at.text_area(key="sql.text").set_value(sql)


def rows_of(at: AppTest) -> list[tuple[object, ...]]:
    frame = at.dataframe[0].value
    return [tuple(r) for r in frame.itertuples(index=False)]


def human_audit(ws: Workspace, actor: str) -> list[dict[str, object]]:
    return [r for r in ws.audit.tail(100) if r["source"] == "sql" and r["actor"] == actor]


def test_estimate_comes_before_running(app: Callable[..., AppTest], people: dict[str, User],
                                       ws: Workspace) -> None:
    at = open_page(app, people["analyst"], "sql")
    write(at, PER_DAY)
    at.button(key="sql.estimate_btn").click().run()
    page = texts(at)
    assert "The guardrails accept this query." in page
    assert "Estimated cost: **about " in page and "rows" in page
    assert "A LIMIT 10,000 was added." in page
    assert any(c.value.endswith("LIMIT 10000") for c in at.code)
    assert not at.dataframe  # nothing ran yet
    assert human_audit(ws, "ann") == []

    at.button(key="sql.run_btn").click().run()
    assert not at.exception
    # all apps: news' three events on 10-05 count too
    assert rows_of(at) == [("2026-10-05", 10), ("2026-10-06", 8), ("2026-10-07", 6)]
    [row] = human_audit(ws, "ann")
    assert row["verdict"] == "ok" and row["rows"] == 3


def test_scoped_analyst_queries_only_their_app(app: Callable[..., AppTest],
                                               people: dict[str, User], ws: Workspace) -> None:
    at = open_page(app, people["scoped"], "sql")
    assert not [s for s in at.selectbox if s.key == "sql.scope"]  # no other app on offer
    assert "App: **shop**" in texts(at)
    write(at, PER_DAY)
    at.button(key="sql.estimate_btn").click().run()
    assert "A tenant filter was added: only app 'shop' is read." in texts(at)
    at.button(key="sql.run_btn").click().run()
    assert rows_of(at) == SHOP_PER_DAY

    write(at, "SELECT app_id, count(*) AS events FROM events GROUP BY app_id")
    at.button(key="sql.run_btn").click().run()
    assert [r[0] for r in rows_of(at)] == ["shop"]
    assert all("app_id = 'shop'" in str(r["sql_run"]) for r in human_audit(ws, "sam"))


def test_downloads_hold_the_rows(app: Callable[..., AppTest], people: dict[str, User],
                                 downloads: dict[str, bytes]) -> None:
    at = open_page(app, people["scoped"], "sql")
    write(at, PER_DAY)
    at.button(key="sql.run_btn").click().run()
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download CSV", "Download Parquet"]
    csv = pa_csv.read_csv(io.BytesIO(downloads["sql-query.csv"]))
    parquet = pq.read_table(io.BytesIO(downloads["sql-query.parquet"]))
    # CSV reading types the dt column as dates; Parquet keeps the text
    assert csv.to_pylist() == [{"dt": date.fromisoformat(d), "events": n}
                               for d, n in SHOP_PER_DAY]
    assert parquet.to_pylist() == [{"dt": d, "events": n} for d, n in SHOP_PER_DAY]


def test_a_write_is_refused_with_its_code(app: Callable[..., AppTest], people: dict[str, User],
                                          ws: Workspace) -> None:
    at = open_page(app, people["analyst"], "sql")
    write(at, "DELETE FROM events WHERE app_id = 'news'")
    at.button(key="sql.estimate_btn").click().run()
    assert "The guardrails refuse this query:" in texts(at)
    assert any("not_read_only" in e.value for e in at.error)
    assert human_audit(ws, "ann") == []  # an estimate runs nothing

    at.button(key="sql.run_btn").click().run()
    assert not at.exception
    assert any("not_read_only" in e.value for e in at.error)
    assert any(c.value.startswith("Hint:") for c in at.caption)
    [row] = human_audit(ws, "ann")
    assert (row["verdict"], row["code"]) == ("rejected", "not_read_only")


def test_each_session_gets_its_own_engine(app: Callable[..., AppTest], people: dict[str, User],
                                          ws: Workspace) -> None:
    first = open_page(app, people["analyst"], "sql")
    second = open_page(app, people["analyst"], "sql")
    mine, theirs = (at.session_state["sql.engine"][1] for at in (first, second))
    assert isinstance(mine, DuckDBEngine) and isinstance(theirs, DuckDBEngine)
    assert mine is not theirs and ws.engine not in (mine, theirs)
    assert mine.warehouse == ws.engine.warehouse  # type: ignore[attr-defined]
    first.run()
    assert first.session_state["sql.engine"][1] is mine  # kept across reruns


def test_cancel_stops_this_sessions_query_only(ws: Workspace, people: dict[str, User]) -> None:
    user = people["analyst"]
    mine, theirs = own_engine(ws), own_engine(ws)
    assert mine is not None and theirs is not None
    try:
        jobs = [QueryJob.start(SLOW_SQL, engine, partial(run_guarded, ws, engine, SLOW_SQL,
                                                         user=user, scope=None))
                for engine in (theirs, mine)]
        assert jobs[1].cancel()
        outcome = jobs[1].outcome()
        assert getattr(outcome, "code", None) == "query_cancelled"
        assert not jobs[0].done()  # the other session's query still runs

        assert jobs[0].cancel()
        assert getattr(jobs[0].outcome(), "code", None) == "query_cancelled"
    finally:
        mine.close()
        theirs.close()
    codes = [(r["verdict"], r["code"]) for r in ws.audit.tail(10) if r["actor"] == "ann"]
    assert codes == [("error", "query_cancelled")] * 2
