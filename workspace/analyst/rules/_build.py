"""A `Reading` → a plan: which insight kind the cues point to, its fields, and how sure.

Confidence starts at 1 and is multiplied down: by `UNKNOWN_FACTOR` for each word that
means nothing known, `DOUBT_FACTOR` for each doubt (ambiguity, two ranges, a field that
does not fit), `WEAK_FACTOR` when nothing says what to compute. A plan is *sure* at
`SURE` or above, so one unexplained word is enough to make it a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from workspace.analyst.plan import Plan, Query
from workspace.analyst.rules._read import Reading
from workspace.analyst.rules._total import total
from workspace.insights import (
    Breakdown,
    DateRange,
    Filter,
    Funnel,
    FunnelStep,
    Retention,
    Stickiness,
    TopEvents,
    Trend,
)

SURE = 0.75
UNKNOWN_FACTOR = 0.4
DOUBT_FACTOR = 0.5
WEAK_FACTOR = 0.6
BREAKDOWN_LIMIT = 20
DEFAULT_WINDOW = (14, "day")
DEFAULT_TOP = 10
DEFAULT_DAYS = 30


@dataclass
class Built:
    plan: Plan | None
    confidence: float
    said: list[str] = field(default_factory=list)  # what was understood, in words


def build(r: Reading, *, extent: tuple[str, str] | None, today: date) -> Built:
    said: list[str] = []
    doubts = list(r.doubts)
    weak = False
    filters = _filters(r.filters, doubts)
    if r.dates.range is not None:
        span: DateRange = r.dates.range
        said.append(", ".join(r.dates.said[:1]))
    elif extent is not None:
        span = DateRange(start=date.fromisoformat(extent[0]), end=date.fromisoformat(extent[1]))
        said.append(f"all the data ({extent[0]} to {extent[1]})")
    else:
        span = DateRange(last_days=DEFAULT_DAYS)
        said.append(f"the last {DEFAULT_DAYS} days")
    breakdown = Breakdown(field=r.breakdown, limit=BREAKDOWN_LIMIT) if r.breakdown else None
    events = _steps(r.events)
    kind = _kind(r, events)
    if kind == "funnel" and "steps" not in r.cues:
        doubts.append("the order of the steps is not said (use 'to', 'then' or →)")
    if len(set(events)) < len(events):
        doubts.append("an event named twice")
    query: Query | None = None
    if kind == "funnel":
        window, unit = r.window or DEFAULT_WINDOW
        query = Funnel(steps=[FunnelStep(event=e) for e in events[:10]], window=window,
                       window_unit=unit, date_range=span, filters=filters, breakdown=breakdown)
        said.insert(0, f"a funnel {' → '.join(events)} within {window} {unit}(s)")
        doubts += _unused(r, measure=False, interval=False, top=True)
    elif kind == "retention":
        if len(events) > 2:
            doubts.append("more than two events for retention")
        period = r.interval if r.interval in ("day", "week", "month") else "week"
        query = Retention(start_event=events[0] if events else None,
                          return_event=events[1] if len(events) > 1 else None,
                          period=period, date_range=span, filters=filters)
        said.insert(0, f"{period}ly retention of users who did "
                       f"{events[0] if events else 'anything'}")
        doubts += _unused(r, measure=False, interval=False, top=True, breakdown=True)
    elif kind == "stickiness":
        event = _one(events, doubts)
        query = Stickiness(event=event, date_range=span, filters=filters)
        said.insert(0, f"days active per user, counting {event or 'any event'}")
        doubts += _unused(r, measure=False, interval=True, top=True, breakdown=True)
    elif kind == "top_events":
        query = TopEvents(limit=r.top or DEFAULT_TOP, date_range=span, filters=filters)
        said.insert(0, f"the top {r.top or DEFAULT_TOP} events")
        doubts += _unused(r, measure=False, interval=True, top=False, breakdown=True)
        if events:
            doubts.append("top events of one event")
    elif kind in ("trend", "total"):
        event = _one(events, doubts)
        measure = _measure(r)
        weak = not (r.aggregate or r.measure or r.numeric or r.interval or r.cues
                    or r.breakdown or event)
        if kind == "trend":
            interval = r.interval or "day"
            query = Trend(event=event, measure=measure, interval=interval,
                          property=r.numeric if measure in ("sum", "avg") else None,
                          date_range=span, filters=filters, breakdown=breakdown)
            said.insert(0, f"{_what(measure, r.numeric, event)} per {interval}")
        else:
            query = total(measure=measure, prop=r.numeric if measure in ("sum", "avg") else None,
                          event=event, filters=filters,
                          date_range=r.dates.range, breakdown=r.breakdown, today=today)
            said.insert(0, _what(measure, r.numeric, event))
            if r.dates.range is None:
                said[-1] = "all the data"
        doubts += _unused(r, measure=True, interval=False, top=True)
        if r.aggregate == "avg" and measure != "avg":
            doubts.append("an average of what?")
    if query is None:
        return Built(None, 0.0, said[1:] + [f"not sure: {d}" for d in doubts])
    if r.breakdown:
        said.append(f"by {r.breakdown}")
    said += [f"{f} {'≠' if neg else '='} {v}" for f, v, neg in r.filters]
    doubts = list(dict.fromkeys(doubts))
    confidence = UNKNOWN_FACTOR ** len(r.unknown) * DOUBT_FACTOR ** len(doubts) * (
        WEAK_FACTOR if weak else 1.0)
    if r.truncated:
        confidence = 0.0
    said += [f"not sure: {d}" for d in doubts]
    plan = Plan(query=query, explanation="Answered by the rule-based planner: "
                + "; ".join(said[:4]) + ".", assumptions=_assumptions(r, kind))
    return Built(plan, round(confidence, 4), said)


def _kind(r: Reading, events: list[str]) -> str | None:
    if r.cues & {"funnel", "steps"} and len(events) >= 2:
        return "funnel"
    if "retention" in r.cues:
        return "retention"
    if "stickiness" in r.cues:
        return "stickiness"
    if "top" in r.cues and not r.breakdown and not r.numeric and (
            r.measure != "users" or r.said_events or "event_types" in r.cues):
        return "top_events"
    if r.interval or "trend" in r.cues:
        return "trend"
    if r.aggregate or r.measure or r.numeric or events or r.breakdown:
        return "total"
    return None


def _steps(events: list[str]) -> list[str]:
    steps: list[str] = []
    for e in events:
        if not steps or steps[-1] != e:
            steps.append(e)
    return steps


def _one(events: list[str], doubts: list[str]) -> str | None:
    if len(events) > 1:
        doubts.append(f"several events ({', '.join(events)}): only {events[0]} is counted")
    return events[0] if events else None


def _measure(r: Reading) -> str:
    if r.numeric:
        return "avg" if r.aggregate == "avg" else "sum"
    return "users" if r.measure == "users" else "events"


def _what(measure: str, numeric: str | None, event: str | None) -> str:
    about = event or "all events"
    return {"events": f"the number of {event} events" if event else "the number of events",
            "users": f"unique users doing {about}", "sum": f"the total {numeric} of {about}",
            "avg": f"the average {numeric} of {about}"}[measure]


def _unused(r: Reading, *, measure: bool, interval: bool, top: bool,
            breakdown: bool = False) -> list[str]:
    """Parts of the question the chosen kind would silently ignore."""
    left: list[str] = []
    if not measure and r.numeric:
        left.append(f"{r.numeric} is not used by this kind")
    if interval and r.interval:
        left.append(f"the {r.interval} interval is not used by this kind")
    if top and (r.top or "top" in r.cues):
        left.append("'top' is not used by this kind")
    if breakdown and r.breakdown:
        left.append(f"a breakdown by {r.breakdown} is not supported by this kind")
    if r.window and not (r.cues & {"funnel", "steps"}):
        left.append("a window outside a funnel")
    if not measure and r.aggregate in ("sum", "avg"):
        left.append(f"the {r.aggregate} is not used by this kind")
    return left


def _filters(found: list[tuple[str, str, bool]], doubts: list[str]) -> list[Filter]:
    """One filter per field: "on ios or android" → in, "not on ios or web" → not_in."""
    by_field: dict[str, list[tuple[str, bool]]] = {}
    for name, value, negated in found:
        by_field.setdefault(name, []).append((value, negated))
    filters: list[Filter] = []
    for name, items in by_field.items():
        values: list[str | int | float | bool] = list(dict.fromkeys(v for v, _ in items))
        excluded = any(n for _, n in items)
        if excluded and not all(n for _, n in items):
            doubts.append(f"{name} both included and excluded")
        if len(values) == 1:
            filters.append(Filter(field=name, op="neq" if excluded else "eq", value=values[0]))
        else:
            filters.append(Filter(field=name, op="not_in" if excluded else "in", value=values))
    return filters


def _assumptions(r: Reading, kind: str | None) -> list[str]:
    notes: list[str] = []
    if r.dates.range is None:
        notes.append("no dates given: all the data")
    if kind == "funnel" and r.window is None:
        notes.append(f"conversion window {DEFAULT_WINDOW[0]} days")
    if kind == "retention":
        notes.append("returning means any event unless a second event is named")
    return notes
