"""What a person waits for in the workspace: a dashboard of six tiles, and a chat answer.

Run: .venv/bin/python bench/workspace.py [--events N] [--repeat R] [--questions Q]

1. Dashboard. N demo events (default 10M; generated once with a fixed seed and end date,
   compacted, and kept under ~/.cache/causality/bench-workspace-<N>/) and six tiles pinned
   through the `DashboardStore`: a daily trend, events by type, a funnel, weekly retention,
   revenue by country and a DAU number. A render is what the app does per tile:
   `Workspace.run_tile` (date filter, guardrails, cost estimate, DuckDB, audit) +
   `charts.to_figure` + `fig.to_json()`. "Cold" clears the result cache before each render
   (engine, its day cache of closed days and the OS cache warm, after one warm-up render;
   the day cache loads in the background and is waited for); "cached" renders again within the
   TTL. Tiles run one after another, and also on a pool of six threads (tiles load
   independently in the app). Baseline, same run and alternating with the renders: the six
   checked SQL statements straight on `engine.run`. Two views: all apps, and app ``shop``
   over the last 14 days (URL filters). Goal: a warm render under 2 s.
2. Chat. `Workspace.ask` with the real instructor + anthropic client whose HTTP transport
   answers at once with a recorded Messages API reply, then the chart drawn and serialised.
   Overhead = ask + chart - the time inside the model's HTTP call (≈ 0 here); the first
   question has a cold data-context cache. Goal: under 1 s.

Prints medians and p90 (ms), the slowest tile, and the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from causality.settings import LLMSettings, load_settings  # noqa: E402
from charts import ChartSpec, to_figure  # noqa: E402
from metadata.dashboards import Tile  # noqa: E402
from metadata.users import User  # noqa: E402
from pipeline.compactor import CompactionPolicy, run_once  # noqa: E402
from warehouse.demo import generate_and_write  # noqa: E402
from warehouse.storage import Storage  # noqa: E402
from workspace.analyst import Plan, Session, planner_from_settings  # noqa: E402
from workspace.analyst.plan import SqlQuery  # noqa: E402
from workspace.filters import Filters  # noqa: E402
from workspace.insights import (  # noqa: E402
    DateRange,
    Funnel,
    FunnelStep,
    Retention,
    TopEvents,
    Trend,
    compile_insight,
)
from workspace.queries import restrict_dates  # noqa: E402
from workspace.service import TileResult, Workspace  # noqa: E402

EVENTS = 10_000_000
REPEAT = 5
QUESTIONS = 5
SEED = 42
END = date(2026, 11, 2)  # a Monday; fixed so the cached warehouse and the numbers never move
CACHE = Path.home() / ".cache" / "causality"
POOL = 6
GOAL_DASHBOARD_S = 2.0
GOAL_CHAT_S = 1.0
CACHE_WAIT_S = 600.0
MODEL = "claude-sonnet-5"
TENANT = "shop"


# -- the warehouse -------------------------------------------------------------------------

def warehouse(n_events: int) -> Path:
    """The compacted demo warehouse of `n_events`, built once; markers are written last."""
    root = CACHE / f"bench-workspace-{n_events}"
    wh = root / "warehouse"
    recipe = json.dumps({"events": n_events, "seed": SEED, "end": END.isoformat()})
    generated, compacted = root / "generated.json", root / "compacted.json"
    if not (generated.is_file() and generated.read_text() == recipe):
        shutil.rmtree(root, ignore_errors=True)
        wh.mkdir(parents=True)
        print(f"generating {n_events:,} demo events into {wh} (once) ...", flush=True)
        started = time.perf_counter()
        summary = generate_and_write(n_events, wh, seed=SEED, end=END)
        print(f"  {summary.events:,} events, {summary.files:,} files, "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        generated.write_text(recipe)
    if not (compacted.is_file() and compacted.read_text() == recipe):
        print("compacting (once) ...", flush=True)
        done = run_once(Storage(str(wh)), CompactionPolicy(grace_s=0),
                        now=datetime(END.year, END.month, END.day, 12, tzinfo=UTC))
        print(f"  {len(done.partitions):,} partitions, {done.rows:,} rows, "
              f"{done.seconds:.0f} s", flush=True)
        compacted.write_text(recipe)
    return wh


# -- the dashboard -------------------------------------------------------------------------

@dataclass(frozen=True)
class TileDef:
    title: str
    sql: str
    chart: ChartSpec
    insight: str | None = None


def tile_defs() -> list[TileDef]:
    last = END - timedelta(days=1)
    since = END - timedelta(days=28)
    four_weeks = DateRange(start=since, end=last)
    eight_weeks = DateRange(start=END - timedelta(weeks=8), end=last)
    funnel = Funnel(steps=[FunnelStep(event="signup"), FunnelStep(event="activation"),
                           FunnelStep(event="purchase")], window=14, date_range=four_weeks)
    return [
        TileDef("Events per day", compile_insight(Trend(date_range=four_weeks), END),
                ChartSpec(kind="line", x="period", y=["value"], title="Events per day"),
                "trend"),
        TileDef("Events by type",
                "SELECT event_type, count(*) AS events FROM events "
                f"WHERE dt >= '{since}' GROUP BY 1 ORDER BY 2 DESC",
                ChartSpec(kind="bar", x="event_type", y=["events"], title="Events by type")),
        TileDef("Signup → activation → purchase", compile_insight(funnel, END),
                ChartSpec(kind="funnel", x="event", y=["users"], title="Funnel"), "funnel"),
        TileDef("Weekly retention",
                compile_insight(Retention(start_event="signup", period="week", periods=7,
                                          date_range=eight_weeks), END),
                ChartSpec(kind="retention_heatmap", x="period", y=["retention"],
                          series="cohort", title="Weekly retention"), "retention"),
        TileDef("Revenue by country",
                "SELECT json_extract_scalar(properties, '$.country') AS country, "
                "sum(CAST(json_extract_scalar(properties, '$.revenue') AS double)) AS revenue "
                f"FROM events WHERE event_type = 'purchase' AND dt >= '{since}' "
                "GROUP BY 1 ORDER BY 2 DESC",
                ChartSpec(kind="bar", x="country", y=["revenue"], title="Revenue by country")),
        TileDef("Daily active users",
                f"SELECT count(DISTINCT user_id) AS dau FROM events WHERE dt = '{last}'",
                ChartSpec(kind="number", y=["dau"], title="DAU yesterday")),
    ]


def pin(ws: Workspace) -> list[Tile]:
    board = ws.dashboards.create("Bench: product overview", "bench")
    for d in tile_defs():
        ws.dashboards.add_tile(board.dashboard_id, title=d.title, sql=d.sql, chart=d.chart,
                               insight=d.insight, created_by="bench")
    return ws.dashboards.tiles(board.dashboard_id)


def render_tile(ws: Workspace, tile: Tile, filters: Filters, tenant: str | None,
                actor: str) -> tuple[TileResult, float]:
    """One tile as the app draws it; (result, seconds including the chart's JSON)."""
    started = time.perf_counter()
    result = ws.run_tile(tile, filters, tenant=tenant, actor=actor)
    if result.error is not None or result.table is None or result.chart is None:
        raise SystemExit(f"tile {tile.title!r} failed: {result.error}")
    to_figure(result.chart, result.table).to_json()
    return result, time.perf_counter() - started


class Renders:
    """Renders of the whole dashboard. Each render has its own actor name: the per-user rate
    limit (guardrails Policy.queries_per_minute) must not throttle the benchmark, and the
    audit rows of the sequential cold renders can be found again."""

    def __init__(self, ws: Workspace, tiles: list[Tile], filters: Filters, tenant: str | None,
                 pool: ThreadPoolExecutor, label: str):
        self.ws, self.tiles, self.filters, self.tenant, self.pool = (
            ws, tiles, filters, tenant, pool)
        self.label = label
        self.count = 0
        self.per_tile: dict[str, list[float]] = {t.title: [] for t in tiles}
        self.actors: set[str] = set()

    def render(self, concurrent: bool) -> tuple[float, list[TileResult]]:
        self.count += 1
        actor = f"bench-{self.label}-{self.count}"

        def one(tile: Tile) -> tuple[TileResult, float]:
            return render_tile(self.ws, tile, self.filters, self.tenant, actor)

        started = time.perf_counter()
        done = list(self.pool.map(one, self.tiles)) if concurrent else [one(t) for t in self.tiles]
        took = time.perf_counter() - started
        if not concurrent:
            self.actors.add(actor)
            for result, seconds in done:
                self.per_tile[result.tile.title].append(seconds)
        return took, [r for r, _ in done]

    def once(self, concurrent: bool, cold: bool) -> float:
        if cold:
            self.ws.refresh()
        took, results = self.render(concurrent)
        if any(r.cached == cold for r in results):
            raise SystemExit("a render did not hit the cache the way it was meant to")
        return took

    def reset(self) -> None:
        self.per_tile = {t.title: [] for t in self.tiles}
        self.actors = set()

    def engine_ms(self) -> dict[str, float]:
        """Median engine run time per tile (from the audit log) since the last reset."""
        runs: dict[str, list[float]] = {}
        for row in self.ws.audit.tail(10_000):
            if row["actor"] in self.actors and row["duration_ms"] is not None:
                runs.setdefault(str(row["question"]), []).append(cast(float, row["duration_ms"]))
        return {title: statistics.median(ms) for title, ms in runs.items()}


class Baseline:
    """The same checked SQL straight on `engine.run`: no guardrails, estimate, audit, chart."""

    def __init__(self, ws: Workspace, tiles: list[Tile], filters: Filters, tenant: str | None,
                 pool: ThreadPoolExecutor):
        self.statements = [
            ws.check(restrict_dates(t.sql, filters.start, filters.end), tenant)[0].sql
            for t in tiles]
        self.engine, self.pool = ws.engine, pool
        self.max_rows, self.timeout_s = ws.settings.query.max_rows, ws.settings.query.timeout_s

    def run(self, sql: str) -> None:
        self.engine.run(sql, self.max_rows, self.timeout_s)

    def once(self, concurrent: bool) -> float:
        started = time.perf_counter()
        if concurrent:
            list(self.pool.map(self.run, self.statements))
        else:
            for sql in self.statements:
                self.run(sql)
        return time.perf_counter() - started


def p90(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def line(label: str, samples: list[float], base: list[float] | None = None,
         goal: float | None = None) -> None:
    median = statistics.median(samples)
    text = f"  {label:<34} median {median * 1e3:7.0f}  p90 {p90(samples) * 1e3:7.0f}"
    if base:
        text += f"   engine alone {statistics.median(base) * 1e3:6.0f}  ratio " \
                f"{median / statistics.median(base):5.2f}"
    if goal is not None:
        text += f"   {'OK' if median < goal else 'OVER'} (goal < {goal * 1e3:.0f})"
    print(text)


def print_tiles(per_tile: dict[str, float], engine_ms: dict[str, float],
                results: list[TileResult]) -> None:
    rows = {r.tile.title: r.table.num_rows for r in results if r.table is not None}
    kinds = {r.tile.title: r.chart.kind for r in results if r.chart is not None}
    print("  per tile, cold, in sequence (median ms): render = engine run + the rest "
          "(date filter, guardrails, cost estimate, audit, chart JSON)")
    for title, seconds in sorted(per_tile.items(), key=lambda kv: -kv[1]):
        run_ms = engine_ms.get(title, float("nan"))
        print(f"    {title:<32} render {seconds * 1e3:6.0f}  engine run {run_ms:6.0f}"
              f"  rest {seconds * 1e3 - run_ms:5.0f}   {kinds[title]:<17} {rows[title]:>4} rows")
    slowest = max(per_tile, key=lambda t: per_tile[t])
    print(f"  slowest tile: {slowest} ({per_tile[slowest] * 1e3:.0f} ms)", flush=True)


def bench_dashboard(ws: Workspace, repeat: int, profile: bool) -> None:
    tiles = pin(ws)
    board = ws.dashboards.get(tiles[0].dashboard_id)
    views = {
        "all": ("all apps, the tiles' own date ranges", Filters()),
        TENANT: (f"app {TENANT}, last 14 days (URL filters)",
                 Filters(start=END - timedelta(days=14), end=END - timedelta(days=1),
                         app_id=TENANT)),
    }
    with ThreadPoolExecutor(POOL) as pool:
        for key, (label, filters) in views.items():
            tenant = ws.tile_scope(board, filters, None)
            renders = Renders(ws, tiles, filters, tenant, pool, key)
            base = Baseline(ws, tiles, filters, tenant, pool)
            warmup, results = renders.render(concurrent=False)
            # Render and baseline alternate so that a busy machine slows both alike.
            cold_conc, base_conc, cold_seq, base_seq = [], [], [], []
            for _ in range(repeat):
                cold_conc.append(renders.once(concurrent=True, cold=True))
                base_conc.append(base.once(concurrent=True))
            renders.reset()
            for _ in range(repeat):
                cold_seq.append(renders.once(concurrent=False, cold=True))
                base_seq.append(base.once(concurrent=False))
            per_tile = {t: statistics.median(s) for t, s in renders.per_tile.items()}
            engine_ms = renders.engine_ms()
            cached_seq = [renders.once(concurrent=False, cold=False) for _ in range(repeat)]
            cached_conc = [renders.once(concurrent=True, cold=False) for _ in range(repeat)]
            print(f"\ndashboard of {len(tiles)} tiles, {label}; warm-up render "
                  f"{warmup * 1e3:.0f} ms; {repeat} renders each, ms", flush=True)
            line("cold cache, tiles in sequence", cold_seq, base_seq, GOAL_DASHBOARD_S)
            line(f"cold cache, tiles on {POOL} threads", cold_conc, base_conc, GOAL_DASHBOARD_S)
            line("cached, tiles in sequence", cached_seq)
            line(f"cached, tiles on {POOL} threads", cached_conc)
            print_tiles(per_tile, engine_ms, results)
            if profile:
                profiler = cProfile.Profile()
                ws.refresh()
                profiler.runcall(renders.render, False)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


# -- the chat ------------------------------------------------------------------------------

def questions() -> list[tuple[str, dict[str, Any]]]:
    """(question, the recorded Plan the model answers with)."""
    last = END - timedelta(days=1)
    four_weeks = DateRange(start=END - timedelta(days=28), end=last)
    since = (END - timedelta(days=28)).isoformat()
    plans: list[tuple[str, Any, str]] = [
        ("How many events did we get per day in the last four weeks?",
         Trend(date_range=four_weeks), "Events per day over the four weeks to yesterday."),
        ("Which events are the most common?", TopEvents(date_range=four_weeks),
         "The ten most frequent event types in the last four weeks."),
        ("How many people go from signup to activation to purchase?",
         Funnel(steps=[FunnelStep(event="signup"), FunnelStep(event="activation"),
                       FunnelStep(event="purchase")], date_range=four_weeks),
         "Users converting through the three steps within 14 days."),
        ("Do people come back week after week?",
         Retention(start_event="signup", period="week", periods=6,
                   date_range=DateRange(start=END - timedelta(weeks=8), end=last)),
         "Weekly cohorts by signup week and the share active in later weeks."),
        ("Where does our revenue come from?",
         SqlQuery(sql="SELECT json_extract_scalar(properties, '$.country') AS country, "
                      "sum(CAST(json_extract_scalar(properties, '$.revenue') AS double)) "
                      f"AS revenue FROM events WHERE event_type = 'purchase' AND dt >= "
                      f"'{since}' GROUP BY 1 ORDER BY 2 DESC"),
         "Revenue by country over the last four weeks."),
    ]
    out = []
    for question, query, explanation in plans:
        plan = Plan(query=query, explanation=explanation, assumptions=["Days are UTC."])
        out.append((question, plan.model_dump(mode="json")))
    return out


def messages_reply(plan: dict[str, Any]) -> dict[str, Any]:
    """A Messages API body: the model calls the Plan tool once."""
    return {"id": "msg_bench", "type": "message", "role": "assistant", "model": MODEL,
            "content": [{"type": "tool_use", "id": "toolu_bench", "name": "Plan",
                         "input": plan}],
            "stop_reason": "tool_use", "stop_sequence": None,
            "usage": {"input_tokens": 2500, "output_tokens": 200}}


class Model:
    """The model's HTTP endpoint, answering instantly; keeps the time spent inside it."""

    def __init__(self, replies: dict[str, dict[str, Any]]):
        self.replies = replies
        self.seconds = 0.0

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        started = time.perf_counter()
        body = json.loads(request.content)
        question = body["messages"][-1]["content"]
        if not isinstance(question, str):
            question = question[-1]["text"]
        response = httpx2.Response(200, json=messages_reply(self.replies[question]))
        self.seconds += time.perf_counter() - started
        return response


def engine_ms_since(ws: Workspace, after: int) -> tuple[int, float]:
    """(the newest audit id, engine milliseconds of the audit rows after `after`)."""
    rows = ws.audit.tail(200)
    ids = [cast(int, r["audit_id"]) for r in rows]
    ms = sum(cast(float, r["duration_ms"]) for r, i in zip(rows, ids, strict=True)
             if i > after and r["duration_ms"] is not None)
    return max(ids, default=after), ms


def bench_chat(ws_factory: Callable[[Any], Workspace], n_questions: int) -> None:
    asked = questions()
    model = Model(dict(asked))
    llm = LLMSettings(provider="anthropic", model=MODEL, anthropic_api_key=SecretStr("x"),
                      sdk_retries=0)
    planner = planner_from_settings(
        llm, http_client=httpx2.Client(transport=httpx2.MockTransport(model.handler)))
    ws = ws_factory(planner)
    analyst = User("bench-analyst", "analyst", None, None, datetime.now(UTC))
    session = Session(app_id=None, actor=analyst.username)
    overheads, engine_s = [], []
    seen, _ = engine_ms_since(ws, 0)
    for i in range(n_questions):
        question, _ = asked[i % len(asked)]
        model.seconds = 0.0
        started = time.perf_counter()
        answer = ws.ask(question, session, analyst)
        to_figure(answer.chart, answer.chart_points).to_json()
        total = time.perf_counter() - started
        overheads.append(total - model.seconds)
        seen, ms = engine_ms_since(ws, seen)
        engine_s.append(ms / 1e3)
        print(f"  q{i + 1} {answer.insight_kind:<10} {answer.table.num_rows:>4} rows  "
              f"overhead {overheads[-1] * 1e3:6.0f} ms (engine {ms:5.0f}, "
              f"model HTTP {model.seconds * 1e3:.1f})"
              + ("  <- cold data context" if i == 0 else ""))
    print("\nchat answer overhead (ask + chart - model time), ms")
    line("first question, cold context", overheads[:1], goal=GOAL_CHAT_S)
    if len(overheads) > 1:
        line("later questions, warm context", overheads[1:], goal=GOAL_CHAT_S)
        print(f"  of which engine (median)           "
              f"{statistics.median(engine_s[1:]) * 1e3:7.0f}")


# -- main ----------------------------------------------------------------------------------

def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=EVENTS, help="demo events (default 10M)")
    p.add_argument("--repeat", type=int, default=REPEAT, help="renders per measurement")
    p.add_argument("--questions", type=int, default=QUESTIONS, help="chat questions")
    p.add_argument("--skip-chat", action="store_true", help="only the dashboard")
    p.add_argument("--skip-dashboard", action="store_true", help="only the chat")
    p.add_argument("--profile", action="store_true",
                   help="profile one cold render of each dashboard view")
    return p


def warm_day_cache(ws: Workspace) -> None:
    """"Warm" includes the engine's day cache: wait until it holds the closed days."""
    engine = ws.engine
    started = time.perf_counter()
    if not engine.wait_cache(CACHE_WAIT_S):
        raise SystemExit(f"the day cache did not finish loading in {CACHE_WAIT_S:g} s")
    status = engine.status().day_cache
    if status is not None:
        print(f"day cache: {status.days} days, {status.rows:,} rows, "
              f"{status.memory_bytes / 2**20:.0f} MB in memory, loaded in "
              f"{time.perf_counter() - started:.0f} s (background; queries never wait for it)")


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if args.events < 1 or args.repeat < 1 or args.questions < 1:
        raise SystemExit("--events, --repeat and --questions must be at least 1")
    print(load())
    wh = warehouse(args.events)
    with tempfile.TemporaryDirectory(prefix="causality-bench-ws-") as tmp:
        settings = load_settings(data_dir=Path(tmp), storage={"warehouse": str(wh)},
                                 query={"engine": "duckdb"})
        ws = Workspace(settings)
        warm_day_cache(ws)
        print(f"{args.events:,} demo events, compacted, DuckDB "
              f"(memory limit {settings.query.duckdb_memory_limit}), result cache TTL "
              f"{settings.workspace.cache_ttl_s:g} s")
        try:
            if not args.skip_dashboard:
                bench_dashboard(ws, args.repeat, args.profile)
            if not args.skip_chat:
                print(f"\nchat: {args.questions} questions in one chat, all apps")

                def fresh(planner: Any) -> Workspace:
                    # Same engine and metadata store, empty data-context cache.
                    return Workspace(settings, engine=ws.engine, db=ws.db, planner=planner)

                bench_chat(fresh, args.questions)
        finally:
            ws.close()
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
