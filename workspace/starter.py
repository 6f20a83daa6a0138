"""Starter content built from an app's own data: the "Overview" dashboard and the Chat page's
example questions. No event name is written here; every one comes from the catalog.

What an app has is read with two guarded queries (`read_facts`): its event types by count
with the days that have data, and its most frequent three-step path. The path is the order in
which people first do things: per person, each event type's first time in the last
`PATH_DAYS` days with data, in order; its consecutive triples are counted by the people who
made them. An event type its people do on more than `EVERYDAY_DAYS` days each, on average,
is everyday activity (views, taps): it marks no step of a journey, and a funnel through it
converts nearly everybody, so it is left out — unless too few types remain for a path, when
the path uses every type. Retention is weekly, of any event after any
event: its cohorts are the weeks people were first seen, which needs no choice of event and
suits every app, one with a single event type included.

The Overview's tiles are typed insights compiled by `workspace.insights`, so they pass the same
compilers and guardrails as the Insights page. Their range starts on the app's first day with
data and is open-ended (`MAX_RANGE_DAYS`): the dashboard grows as events arrive, and its date
filter narrows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from charts import ChartSpec
from guardrails import Rejected
from guardrails.execute import execute
from metadata.dashboards import Dashboard, TileDraft
from warehouse.engines import EngineError
from workspace.insights import (
    DateRange,
    Funnel,
    FunnelStep,
    Insight,
    Retention,
    TopEvents,
    Trend,
    compile_insight,
)
from workspace.insights._fields import MAX_RANGE_DAYS
from workspace.insights._registry import kind_of

if TYPE_CHECKING:
    from guardrails.execute import Source
    from workspace.service import Workspace

OWNER = "causality"
OVERVIEW = "Overview"
PATH_DAYS = 90  # the path is read from the last days with data, at most this many
EVERYDAY_DAYS = 2  # days per person, on average: above this an event type is everyday activity
MIN_EVENT_TYPES = 2  # fewer, and an app has no Overview yet
MAX_EVENT_TYPES = 100
FUNNEL_WINDOW_DAYS = 14
RETENTION_WEEKS = 8
TOP_EVENTS = 10
EXAMPLE_DAYS = 30

#: Runs one SQL query (Trino dialect) through the guardrails and returns its rows.
Runner = Callable[[str], list[dict[str, Any]]]

SUMMARY_SQL = (f"SELECT event_type, count(*) AS events, min(dt) AS first_day, max(dt) AS "
               f"last_day FROM events GROUP BY event_type ORDER BY events DESC, event_type "
               f"LIMIT {MAX_EVENT_TYPES}")


@dataclass(frozen=True)
class AppFacts:
    """What the starter content is built from."""

    app_id: str | None
    event_types: list[str]  # most events first
    first_day: date | None = None
    last_day: date | None = None
    path: tuple[str, str, str] | None = None


def path_sql(first: date, last: date) -> str:
    """The one query that finds the most frequent three-step path from `first` to `last`."""
    days = f"dt >= '{first.isoformat()}' AND dt <= '{last.isoformat()}'"
    lead = "OVER (PARTITION BY user_id ORDER BY t, event_type)"
    return f"""
WITH daily AS (
  SELECT user_id, dt, event_type, min(event_time) AS t FROM events
  WHERE user_id IS NOT NULL AND {days} GROUP BY user_id, dt, event_type),
everyday AS (
  SELECT event_type FROM daily GROUP BY event_type
  HAVING count(*) > {EVERYDAY_DAYS} * count(DISTINCT user_id)),
firsts AS (
  SELECT user_id, event_type, min(t) AS t,
         event_type IN (SELECT event_type FROM everyday) AS is_everyday
  FROM daily GROUP BY user_id, event_type),
paths AS (
  SELECT 1 AS pass, user_id, event_type AS a, lead(event_type, 1) {lead} AS b,
         lead(event_type, 2) {lead} AS c FROM firsts WHERE NOT is_everyday
  UNION ALL
  SELECT 2 AS pass, user_id, event_type AS a, lead(event_type, 1) {lead} AS b,
         lead(event_type, 2) {lead} AS c FROM firsts)
SELECT pass, a, b, c, count(DISTINCT user_id) AS users FROM paths WHERE c IS NOT NULL
GROUP BY pass, a, b, c ORDER BY pass, users DESC, a, b, c LIMIT 1"""


def common_path(run: Runner, first: date, last: date) -> tuple[str, str, str] | None:
    """The most frequent path between `first` and `last` (see the module), or None."""
    rows = run(path_sql(max(first, last - timedelta(days=PATH_DAYS - 1)), last))
    if not rows:
        return None
    return str(rows[0]["a"]), str(rows[0]["b"]), str(rows[0]["c"])


def read_facts(run: Runner, app_id: str | None) -> AppFacts:
    """The app's event types, days with data and common path (two queries through `run`)."""
    rows = run(SUMMARY_SQL)
    types = [str(r["event_type"]) for r in rows if r["event_type"] is not None]
    if not types:
        return AppFacts(app_id, [])
    first = min(date.fromisoformat(str(r["first_day"])) for r in rows)
    last = max(date.fromisoformat(str(r["last_day"])) for r in rows)
    path = common_path(run, first, last) if len(types) >= 3 else None
    return AppFacts(app_id, types, first, last, path)


def overview_insights(facts: AppFacts) -> list[tuple[Insight, ChartSpec]]:
    """The Overview's insights with their charts; none when the app has too little data."""
    if len(facts.event_types) < MIN_EVENT_TYPES or facts.first_day is None:
        return []
    span = DateRange(start=facts.first_day,
                     end=facts.first_day + timedelta(days=MAX_RANGE_DAYS - 1))
    line = {"kind": "line", "x": "period", "y": ["value"]}
    found: list[tuple[Insight, ChartSpec]] = [
        (Trend(measure="users", interval="day", date_range=span),
         ChartSpec.model_validate({**line, "title": "Active people per day"})),
        (Trend(measure="events", interval="day", date_range=span),
         ChartSpec.model_validate({**line, "title": "Events per day"})),
        (TopEvents(limit=TOP_EVENTS, date_range=span),
         ChartSpec(kind="bar", x="event_type", y=["events"], title="Top events")),
    ]
    if facts.path is not None:
        found.append((Funnel(steps=[FunnelStep(event=e) for e in facts.path],
                             window=FUNNEL_WINDOW_DAYS, window_unit="day", date_range=span),
                      ChartSpec(kind="funnel", x="event", y=["users"],
                                title="Most frequent path")))
    found.append((Retention(period="week", periods=RETENTION_WEEKS, date_range=span),
                  ChartSpec(kind="retention_heatmap", x="period", y=["retention"],
                            series="cohort", title="Weekly retention")))
    return found


def overview_tiles(facts: AppFacts, today: date | None = None) -> list[TileDraft]:
    """The Overview's tiles: each insight compiled to SQL, titled by its chart."""
    drafts = []
    for insight, chart in overview_insights(facts):
        kind = kind_of(insight)
        assert kind is not None
        drafts.append(TileDraft(title=chart.title, sql=compile_insight(insight, today),
                                chart=chart, question=kind.describe(insight),
                                insight=kind.name))
    return drafts


def overview_name(app_id: str) -> str:
    return f"{OVERVIEW} — {app_id}"


def example_questions(facts: AppFacts) -> list[str]:
    """Three questions about this data, each naming only event types it has."""
    if not facts.event_types:
        return []
    top = facts.event_types[0]
    asked = [f"How many {top} per day in the last {EXAMPLE_DAYS} days?", "Top events last week"]
    if facts.path is not None:
        a, b, c = facts.path
        asked.append(f"Funnel from {a} to {b} to {c} within {FUNNEL_WINDOW_DAYS} days")
    else:
        asked.append(f"Weekly retention of {top}")
    return asked


def runner(ws: Workspace, app_id: str | None, *, actor: str = OWNER,
           source: Source = "dashboard") -> Runner:
    """Queries through the guardrails under `app_id`'s scope, audited as `actor`."""
    def run(sql: str) -> list[dict[str, Any]]:
        result = execute(sql, engine=ws.engine, policy=ws.policy(app_id), actor=actor,
                         source=source, audit=ws.audit, question="(starter content)",
                         limiter=ws.limiter)
        rows: list[dict[str, Any]] = result.table.to_pylist()
        return rows
    return run


def ensure_overview(ws: Workspace, app_id: str) -> Dashboard | None:
    """The app's Overview, made from its data on the first call that finds enough of it; None
    while it has too little (or its data cannot be read now). Never makes a second one."""
    name = overview_name(app_id)
    found = ws.dashboards.find(name, app_id, OWNER)
    if found is not None:
        return found
    try:
        drafts = overview_tiles(read_facts(runner(ws, app_id), app_id))
    except (Rejected, EngineError):
        return None
    if not drafts:
        return None
    board, _ = ws.dashboards.create_once(name, OWNER, app_id, drafts)
    return board


def ensure_overviews(ws: Workspace, apps: Iterable[str] | None = None) -> list[Dashboard]:
    """`ensure_overview` for each of `apps` (default: every app the catalog has events of)."""
    if apps is None:
        apps = apps_with_events(ws)
    boards = [ensure_overview(ws, app) for app in apps]
    return [b for b in boards if b is not None]


def apps_with_events(ws: Workspace) -> list[str]:
    """The apps in the catalog's sample of the tenant column (one catalog read)."""
    try:
        values = ws.engine.catalog().samples.get("events", {}).get("app_id", [])
    except EngineError:
        return []
    return sorted(set(values))
