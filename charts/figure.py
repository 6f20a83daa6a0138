"""Chart specs → plotly figures in the Causality theme, and the automatic choice of a spec.

`auto_spec` reads only the table's shape (column types and names) and the insight kind:
a time column and a measure make a line chart, a category and a measure a bar chart, funnels
and retention their own charts (by insight kind, or by the columns those insights return),
a single number a number, a current and a previous value a number with its change, anything
else a table.
"""

from __future__ import annotations

import re

import plotly.graph_objects as go
import pyarrow as pa

from charts._draw import literal
from charts._shape import is_numeric, is_time
from charts.errors import ChartError
from charts.kinds import KINDS
from charts.spec import ChartSpec
from charts.theme import MARGIN, TEMPLATE_NAME, TITLED_TOP_MARGIN

#: A column holding the previous period's value: ``previous``, ``prev_revenue``, ``users_prior``.
_PREVIOUS = re.compile(r"(^|_)(prev|previous|prior)(_|$)", re.IGNORECASE)
_FUNNEL_COLUMNS = frozenset({"step", "event", "users"})
_RETENTION_COLUMNS = frozenset({"cohort", "period", "retention"})

__all__ = ["auto_spec", "is_numeric", "is_time", "problems", "to_figure"]


def problems(spec: ChartSpec, table: pa.Table) -> list[str]:
    """What keeps `spec` from being drawn from `table` (empty when it can be)."""
    names = set(table.column_names)
    kind = KINDS[spec.kind]
    out = [f"the result has no column {c!r}" for c in spec.columns() if c not in names]
    if out or not kind.measures:
        return out
    if kind.x and not spec.x:
        out.append(f"a {spec.kind} chart needs x")
    if not spec.y:
        out.append(f"a {spec.kind} chart needs at least one y column")
    if kind.series and not spec.series:
        out.append(f"a {spec.kind} needs series ({kind.series})")
    out += [f"y column {c!r} is not numeric" for c in spec.y
            if not is_numeric(table.schema.field(c).type)]
    return out


def auto_spec(table: pa.Table, insight_kind: str | None = None, title: str = "") -> ChartSpec:
    """The chart a careful analyst would pick for this result."""
    names = table.column_names
    has = set(names)
    funnel_columns = _FUNNEL_COLUMNS if insight_kind is None else {"event", "users"}
    if insight_kind in ("funnel", None) and has >= funnel_columns:
        return ChartSpec(kind="funnel", x="event", y=["users"], title=title,
                         series="breakdown" if "breakdown" in has else None)
    if insight_kind in ("retention", None) and has >= _RETENTION_COLUMNS:
        return ChartSpec(kind="retention_heatmap", x="period", y=["retention"], series="cohort",
                         title=title)
    if insight_kind == "stickiness" and {"days_active", "users"} <= has:
        return ChartSpec(kind="bar", x="days_active", y=["users"], title=title)
    measures = [n for n in names if is_numeric(table.schema.field(n).type)]
    times = [n for n in names if n not in measures and is_time(table, n)]
    categories = [n for n in names if n not in measures and n not in times]
    if table.num_rows == 0 or not measures:
        return ChartSpec(kind="table", title=title)
    if table.num_rows == 1 and len(names) == 1:
        return ChartSpec(kind="number", y=measures[:1], title=title)
    if table.num_rows == 1 and len(names) == 2 == len(measures):
        with_previous = _current_and_previous(measures)
        if with_previous:
            return ChartSpec(kind="number", y=with_previous, title=title)
    if times:
        series = categories[0] if len(categories) == 1 else None
        y = measures[:1] if series else measures[:5]
        return ChartSpec(kind="line", x=times[0], y=y, series=series, title=title)
    if len(categories) == 1:
        return ChartSpec(kind="bar", x=categories[0], y=measures[:3], title=title)
    if len(categories) == 2:
        return ChartSpec(kind="stacked_bar", x=categories[0], y=measures[:1],
                         series=categories[1], title=title)
    if not categories and len(measures) >= 2 and pa.types.is_integer(table.schema.field(
            names[0]).type):
        return ChartSpec(kind="bar", x=names[0], y=[m for m in measures if m != names[0]][:3],
                         title=title)
    return ChartSpec(kind="table", title=title)


def _current_and_previous(measures: list[str]) -> list[str] | None:
    """``[current, previous]`` when exactly one of two measures is named like a previous value."""
    previous = [m for m in measures if _PREVIOUS.search(m)]
    if len(previous) != 1:
        return None
    return [next(m for m in measures if m != previous[0]), previous[0]]


def to_figure(spec: ChartSpec, table: pa.Table) -> go.Figure:
    """Draw `spec` from `table` in the Causality theme; raises `ChartError` if the spec does
    not fit the table."""
    found = problems(spec, table)
    if found:
        raise ChartError("; ".join(found), hint="choose columns the result has, or let the "
                         "chart be picked automatically", columns=table.column_names)
    fig = KINDS[spec.kind].draw(spec, table)
    fig.update_layout(template=TEMPLATE_NAME, title_text=literal(spec.title) or None,
                      margin={**MARGIN, "t": TITLED_TOP_MARGIN if spec.title else MARGIN["t"]})
    return fig
