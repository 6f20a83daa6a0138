"""Chart specs → plotly figures, and the automatic choice of a spec for a result table.

`auto_spec` reads only the table's shape (column types and names) and the insight kind:
a time column and a measure make a line chart, a category and a measure a bar chart, funnels
and retention their own charts, a single number a number, anything else a table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import plotly.graph_objects as go
import pyarrow as pa

from charts.errors import ChartError
from charts.spec import ChartSpec

_TIME_NAMES = frozenset({"dt", "day", "date", "week", "month", "hour", "period", "time", "cohort"})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_XY_KINDS = frozenset({"line", "area", "bar", "stacked_bar", "funnel"})


def is_numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def is_time(table: pa.Table, name: str) -> bool:
    """A timestamp or date column, or text holding ISO dates under a time-like name."""
    t = table.schema.field(name).type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return True
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        values = [v for v in table.column(name).to_pylist()[:50] if v is not None]
        return name.lower() in _TIME_NAMES and bool(values) and all(
            _ISO_DATE.match(v) for v in values)
    return False


def problems(spec: ChartSpec, table: pa.Table) -> list[str]:
    """What keeps `spec` from being drawn from `table` (empty when it can be)."""
    names = set(table.column_names)
    out = [f"the result has no column {c!r}" for c in spec.columns() if c not in names]
    if out or spec.kind == "table":
        return out
    if spec.kind in _XY_KINDS | {"retention_heatmap"} and not spec.x:
        out.append(f"a {spec.kind} chart needs x")
    if not spec.y:
        out.append(f"a {spec.kind} chart needs at least one y column")
    if spec.kind == "retention_heatmap" and not spec.series:
        out.append("a retention_heatmap needs series (the cohort column)")
    out += [f"y column {c!r} is not numeric" for c in spec.y
            if not is_numeric(table.schema.field(c).type)]
    return out


def auto_spec(table: pa.Table, insight_kind: str | None = None, title: str = "") -> ChartSpec:
    """The chart a careful analyst would pick for this result."""
    names = table.column_names
    has = set(names)
    if insight_kind == "funnel" and {"event", "users"} <= has:
        return ChartSpec(kind="funnel", x="event", y=["users"], title=title,
                         series="breakdown" if "breakdown" in has else None)
    if insight_kind == "retention" and {"period", "retention", "cohort"} <= has:
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


def to_figure(spec: ChartSpec, table: pa.Table) -> go.Figure:
    """Draw `spec` from `table`; raises `ChartError` if the spec does not fit the table."""
    found = problems(spec, table)
    if found:
        raise ChartError("; ".join(found), hint="choose columns the result has, or let the "
                         "chart be picked automatically", columns=table.column_names)
    draw = _DRAW[spec.kind]
    fig = draw(spec, table)
    fig.update_layout(title=spec.title or None, template="plotly_white",
                      margin={"l": 40, "r": 20, "t": 50 if spec.title else 20, "b": 40})
    return fig


def _col(table: pa.Table, name: str) -> list[Any]:
    return [_plain(v) for v in table.column(name).to_pylist()]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | str | int | float | bool) or value is None:
        return value
    return float(value) if hasattr(value, "__float__") else str(value)


def _groups(table: pa.Table, series: str | None) -> list[tuple[str | None, pa.Table]]:
    """One sub-table per series value, in order of first appearance."""
    if series is None:
        return [(None, table)]
    keys = table.column(series).to_pylist()
    order: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        order.setdefault(key, []).append(i)
    return [(str(key), table.take(pa.array(rows))) for key, rows in order.items()]


def _sorted_by(table: pa.Table, name: str) -> pa.Table:
    return table.sort_by([(name, "ascending")])


def _xy(spec: ChartSpec, table: pa.Table) -> go.Figure:
    assert spec.x is not None
    fig = go.Figure()
    line_like = spec.kind in ("line", "area")
    for label, part in _groups(table, spec.series):
        if line_like:
            part = _sorted_by(part, spec.x)
        x = _col(part, spec.x)
        for measure in spec.y:
            name = _trace_name(label, measure, len(spec.y))
            if line_like:
                fig.add_trace(go.Scatter(x=x, y=_col(part, measure), name=name, mode="lines",
                                         stackgroup="one" if spec.kind == "area" else None))
            else:
                fig.add_trace(go.Bar(x=x, y=_col(part, measure), name=name))
    if spec.kind == "stacked_bar":
        fig.update_layout(barmode="stack")
    elif spec.kind == "bar":
        fig.update_layout(barmode="group")
    fig.update_xaxes(title_text=spec.x)
    fig.update_yaxes(title_text=spec.y[0] if len(spec.y) == 1 else None)
    return fig


def _trace_name(label: str | None, measure: str, n_measures: int) -> str:
    if label is None:
        return measure
    return label if n_measures == 1 else f"{label} · {measure}"


def _funnel(spec: ChartSpec, table: pa.Table) -> go.Figure:
    assert spec.x is not None
    fig = go.Figure()
    order = "step" if "step" in table.column_names else None
    for label, part in _groups(table, spec.series):
        if order:
            part = _sorted_by(part, order)
        fig.add_trace(go.Funnel(y=[str(v) for v in _col(part, spec.x)], x=_col(part, spec.y[0]),
                                name=label or spec.y[0], textinfo="value+percent initial"))
    return fig


def _heatmap(spec: ChartSpec, table: pa.Table) -> go.Figure:
    assert spec.x is not None and spec.series is not None
    rows = sorted({v for v in table.column(spec.series).to_pylist() if v is not None})
    cols = sorted({v for v in table.column(spec.x).to_pylist() if v is not None})
    row_at = {v: i for i, v in enumerate(rows)}
    col_at = {v: i for i, v in enumerate(cols)}
    z: list[list[float | None]] = [[None] * len(cols) for _ in rows]
    for r, c, v in zip(table.column(spec.series).to_pylist(), table.column(spec.x).to_pylist(),
                       table.column(spec.y[0]).to_pylist(), strict=True):
        if r is not None and c is not None:
            z[row_at[r]][col_at[c]] = None if v is None else float(v)
    fig = go.Figure(go.Heatmap(z=z, x=[str(c) for c in cols], y=[_label(r) for r in rows],
                               colorscale="Blues", text=_percent_text(z),
                               texttemplate="%{text}", hoverongaps=False))
    fig.update_yaxes(autorange="reversed", title_text=spec.series, type="category")
    fig.update_xaxes(title_text=spec.x, type="category")
    return fig


def _label(value: Any) -> str:
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date().isoformat()
    return str(value)


def _percent_text(z: Sequence[Sequence[float | None]]) -> list[list[str]]:
    return [["" if v is None else f"{v:.0%}" if v <= 1 else f"{v:g}" for v in row] for row in z]


def _number(spec: ChartSpec, table: pa.Table) -> go.Figure:
    values = _col(table, spec.y[0])
    value = values[0] if values else None
    return go.Figure(go.Indicator(mode="number", value=value, title={"text": spec.y[0]}))


def _table(spec: ChartSpec, table: pa.Table) -> go.Figure:
    columns = table.column_names
    return go.Figure(go.Table(header={"values": columns},
                              cells={"values": [_col(table, c) for c in columns]}))


_DRAW = {
    "line": _xy, "area": _xy, "bar": _xy, "stacked_bar": _xy, "funnel": _funnel,
    "retention_heatmap": _heatmap, "number": _number, "table": _table,
}
