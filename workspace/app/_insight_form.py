"""The Insights page's forms: widgets → the raw fields of an insight (validated by its model),
a sentence describing it, and its run. `Trend`, `Funnel` and `Retention` have forms of their
own; any other kind gets one built from its model's fields (`generic_fields`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, get_args, get_origin

import streamlit as st
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from causality.errors import CausalityError
from metadata.users import User
from workspace.app._look import plain
from workspace.app._results import Shown, from_execution, show_error
from workspace.insights import KINDS, Breakdown, Insight, InsightKind, compile_insight
from workspace.insights.kinds.trend import MEASURES
from workspace.service import Workspace

DEFAULT_DAYS = 30
OTHER_FIELD = "Another property…"
#: Fields the page itself fills in.
PAGE_FIELDS = frozenset({"kind", "date_range"})
_NO_WIDGET = object()
_FIELD_NAMES = {"steps": "Steps", "date_range": "Dates", "property": "Property",
                "breakdown": "Breakdown", "window": "Conversion window", "periods": "Periods",
                "event": "Event", "start_event": "Start event", "return_event": "Return event"}


@dataclass(frozen=True)
class FormOptions:
    event_types: list[str]
    number_keys: list[str]
    breakdown_fields: list[str]
    default_range: tuple[date, date]


def options_for(ws: Workspace, user: User, scope: str | None) -> FormOptions:
    """Pickers filled from what this scope's data holds (`Workspace.context`)."""
    ctx = ws.context(scope, user.username)
    keys = ctx.property_keys
    fields = ["category", *(f"properties.{k}" for k in keys)]
    if scope is None:
        fields.insert(1, "app_id")
    return FormOptions(event_types=ctx.event_types,
                       number_keys=[k for k, (kind, _) in keys.items() if kind == "number"],
                       breakdown_fields=fields, default_range=_default_range(ctx.extent))


def _default_range(extent: tuple[str, str] | None) -> tuple[date, date]:
    """The last `DEFAULT_DAYS` days that have data (or that ended yesterday)."""
    try:
        first, last = (date.fromisoformat(d) for d in extent) if extent else (None, None)
    except ValueError:
        first = last = None
    if last is None:
        last = datetime.now(UTC).date() - timedelta(days=1)
    start = last - timedelta(days=DEFAULT_DAYS - 1)
    return (max(start, first) if first else start), last


def date_range(opts: FormOptions) -> dict[str, date] | None:
    picked = st.date_input("Dates", value=opts.default_range, key="ins.dates",
                           format="YYYY-MM-DD")
    if not isinstance(picked, tuple) or len(picked) != 2:
        st.caption("Pick the last day of the range too.")
        return None
    return {"start": picked[0], "end": picked[1]}


def _event(label: str, opts: FormOptions, key: str) -> str | None:
    # "" stands for None: a None option would show as "Choose an option"
    picked = st.selectbox(label, ["", *opts.event_types], key=key,
                          format_func=lambda e: e or "Any event")
    return picked or None


def _breakdown(opts: FormOptions, key: str) -> dict[str, Any] | None:
    field: str | None = st.selectbox("Breakdown", ["", *opts.breakdown_fields, OTHER_FIELD],
                                     key=key, format_func=lambda f: f or "No breakdown")
    if field == OTHER_FIELD:
        typed = st.text_input("Property to break down by (a key of properties)",
                              key=f"{key}.property").strip()
        field = f"properties.{typed}" if typed else None
    if not field:
        return None
    limit = st.number_input("Top values (the rest as “other”)", 1, 50, 5, key=f"{key}.limit")
    return {"field": field, "limit": int(limit)}


def trend_fields(opts: FormOptions) -> dict[str, Any]:
    out: dict[str, Any] = {"event": _event("Event", opts, "ins.trend.event")}
    left, right = st.columns(2)
    with left:
        out["measure"] = st.selectbox("Measure", list(MEASURES), key="ins.trend.measure",
                                      format_func=MEASURES.__getitem__)
    with right:
        out["interval"] = st.selectbox("Interval", ["hour", "day", "week", "month"], index=1,
                                       key="ins.trend.interval")
    if out["measure"] in ("sum", "avg"):
        out["property"] = st.text_input(
            "Numeric property (a key of properties)", key="ins.trend.property",
            value=opts.number_keys[0] if opts.number_keys else "").strip() or None
        if opts.number_keys:
            st.caption("Numeric keys seen lately: " + plain(", ".join(opts.number_keys)))
    out["breakdown"] = _breakdown(opts, "ins.trend.breakdown")
    return out


def funnel_fields(opts: FormOptions) -> dict[str, Any]:
    steps = st.multiselect("Steps, in order", opts.event_types, key="ins.funnel.steps",
                           placeholder="Pick the events in the order users do them")
    left, right = st.columns(2)
    with left:
        window = st.number_input("Conversion window", 1, 10_000, 14, key="ins.funnel.window")
    with right:
        unit = st.selectbox("Unit", ["minute", "hour", "day", "week"], index=2,
                            key="ins.funnel.unit")
    return {"steps": [{"event": step} for step in steps], "window": int(window),
            "window_unit": unit, "breakdown": _breakdown(opts, "ins.funnel.breakdown")}


def retention_fields(opts: FormOptions) -> dict[str, Any]:
    left, right = st.columns(2)
    with left:
        start = _event("Start event (joins the cohort)", opts, "ins.retention.start")
        period = st.selectbox("Period", ["day", "week", "month"], index=1,
                              key="ins.retention.period")
    with right:
        back = _event("Return event (counts as retained)", opts, "ins.retention.return")
        periods = st.number_input("Periods to show", 1, 52, 8, key="ins.retention.periods")
    return {"start_event": start, "return_event": back, "period": period,
            "periods": int(periods)}


FORMS: dict[str, Callable[[FormOptions], dict[str, Any]]] = {
    "trend": trend_fields, "funnel": funnel_fields, "retention": retention_fields}


def insight_fields(kind: str, opts: FormOptions) -> dict[str, Any]:
    """The kind's own form, or one built from its model."""
    form = FORMS.get(kind)
    return form(opts) if form is not None else generic_fields(KINDS[kind], opts)


def generic_fields(kind: InsightKind[Any], opts: FormOptions) -> dict[str, Any]:
    """One widget per field of the model: an event picker, a breakdown, a choice, a number,
    a switch or a text; fields of other types keep their defaults."""
    out: dict[str, Any] = {}
    for name, field in kind.model.model_fields.items():
        key = f"ins.{kind.name}.{name}"
        if name in PAGE_FIELDS:
            continue
        if name in kind.event_fields:
            out[name] = _event(label(name), opts, key)
        elif Breakdown in (field.annotation, *get_args(field.annotation)):
            out[name] = _breakdown(opts, key)
        elif (value := _widget(label(name), field, key)) is not _NO_WIDGET:
            out[name] = value
    return out


def _widget(text: str, field: FieldInfo, key: str) -> Any:
    """The value picked, or `_NO_WIDGET` for a field of a type without a widget (a list)."""
    args = get_args(field.annotation)
    optional = type(None) in args
    inner = next(a for a in args if a is not type(None)) if optional else field.annotation
    if get_origin(inner) is Annotated:
        inner = get_args(inner)[0]
    default = None if field.is_required() else field.default
    if get_origin(inner) is Literal:
        choices = list(get_args(inner))
        return st.selectbox(text, choices, key=key,
                            index=choices.index(default) if default in choices else 0)
    if inner is bool:
        return st.checkbox(text, value=bool(default), key=key)
    if inner is int or inner is float:
        low, high = _bound(field, "ge"), _bound(field, "le")
        start = default if isinstance(default, int | float) else low or 0
        picked = st.number_input(text, inner(low) if low is not None else None,
                                 inner(high) if high is not None else None, inner(start),
                                 key=key)
        return inner(picked)
    if inner is str:
        typed = st.text_input(text, value=default or "", key=key).strip()
        return typed or (None if optional else "")
    return _NO_WIDGET


def _bound(field: FieldInfo, name: str) -> Any:
    return next((getattr(m, name) for m in field.metadata if hasattr(m, name)), None)


def label(name: str) -> str:
    return _FIELD_NAMES.get(name) or name.replace("_", " ").capitalize()


def friendly(err: ValidationError) -> str:
    """One line per problem, in the form's words."""
    lines = []
    for problem in err.errors():
        where = str(problem["loc"][0]) if problem["loc"] else ""
        message = problem["msg"].removeprefix("Value error, ")
        if where == "steps" and problem["type"] == "too_short":
            message = "pick at least two steps, in the order users take them"
        lines.append(f"{plain(label(where) if where else 'Form')}: "
                     f"{plain(message, limit=500)}")
    return "\n".join(f"- {line}" for line in lines)


def describe(model: Insight, today: date) -> str:
    """The kind's sentence, then the dates."""
    start, end = model.date_range.resolve(today)
    return f"{KINDS[model.kind].describe(model)}, {start:%Y-%m-%d} to {end:%Y-%m-%d}"


def run_insight(ws: Workspace, user: User, scope: str | None, kind: str,
                values: dict[str, Any]) -> Shown | None:
    """Validate, compile and run the insight; says what is wrong instead when it cannot."""
    try:
        model = KINDS[kind].model.model_validate(values)
    except ValidationError as err:
        st.warning("Check the form:\n" + friendly(err), icon=":material/edit_note:")
        return None
    today = datetime.now(UTC).date()
    question = describe(model, today)
    try:
        sql = compile_insight(model, today)
        run = ws.run_sql(sql, user=user, app_id=scope, source="sql", question=question)
    except CausalityError as err:
        show_error(err)
        return None
    return from_execution(run, question=question, insight=kind, scope=scope, source_sql=sql,
                          ws=ws, actor=user.username)
