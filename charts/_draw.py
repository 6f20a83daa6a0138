"""The drawing functions of the chart kinds (`charts.kinds` says which draws which);
`charts.figure.to_figure` picks one and applies the theme.

Each takes a spec already checked against the table (`charts.figure.problems`). Every text that
plotly draws (titles, axis and tick labels, legend entries, table cells) comes from a result or a
person, and plotly reads some HTML in it, so each goes through `literal` first.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import pyarrow as pa

from charts._shape import is_numeric
from charts.theme import MUTED, NUMBER_FORMAT, PERCENT_FORMAT, SEQUENTIAL

if TYPE_CHECKING:
    from charts.spec import ChartSpec

#: Up to this many points per series a line also shows its markers (a lone point stays visible).
SPARSE_POINTS = 40


def literal(text: str) -> str:
    """``text`` as plotly shows it literally: ``<``, ``>`` and ``&`` as entities (plotly knows
    those three, not ``&quot;``, so quotes stay as they are)."""
    return html.escape(text, quote=False)


def col(table: pa.Table, name: str) -> list[Any]:
    """A column's values for plotly; text (categories, labels) made `literal`."""
    return [_plain(v) for v in table.column(name).to_pylist()]


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return literal(value)
    if isinstance(value, datetime | date | int | float | bool) or value is None:
        return value
    return float(value) if hasattr(value, "__float__") else literal(str(value))


def _groups(table: pa.Table, series: str | None) -> list[tuple[str | None, pa.Table]]:
    """One sub-table per series value, in order of first appearance."""
    if series is None:
        return [(None, table)]
    keys = table.column(series).to_pylist()
    order: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        order.setdefault(key, []).append(i)
    return [(literal(str(key)), table.take(pa.array(rows))) for key, rows in order.items()]


def _sorted_by(table: pa.Table, name: str) -> pa.Table:
    return table.sort_by([(name, "ascending")])


def line(spec: ChartSpec, table: pa.Table) -> go.Figure:
    return _xy(spec, table, lines=True, stacked=False)


def area(spec: ChartSpec, table: pa.Table) -> go.Figure:
    return _xy(spec, table, lines=True, stacked=True)


def bar(spec: ChartSpec, table: pa.Table) -> go.Figure:
    return _xy(spec, table, lines=False, stacked=False)


def stacked_bar(spec: ChartSpec, table: pa.Table) -> go.Figure:
    return _xy(spec, table, lines=False, stacked=True)


def _xy(spec: ChartSpec, table: pa.Table, *, lines: bool, stacked: bool) -> go.Figure:
    assert spec.x is not None
    fig = go.Figure()
    for label, part in _groups(table, spec.series):
        if lines:
            part = _sorted_by(part, spec.x)
        x = col(part, spec.x)
        for measure in spec.y:
            name = _trace_name(label, measure, len(spec.y))
            if lines:
                mode = "lines+markers" if part.num_rows <= SPARSE_POINTS else "lines"
                fig.add_trace(go.Scatter(x=x, y=col(part, measure), name=name, mode=mode,
                                         connectgaps=False,
                                         stackgroup="one" if stacked else None))
            else:
                fig.add_trace(go.Bar(x=x, y=col(part, measure), name=name))
    if lines:
        fig.update_layout(hovermode="x unified")
    elif stacked:
        fig.update_layout(barmode="stack", legend_traceorder="normal")
    else:
        fig.update_layout(barmode="group")
    fig.update_xaxes(title_text=literal(spec.x))
    fig.update_yaxes(title_text=literal(spec.y[0]) if len(spec.y) == 1 else None)
    fig.update_layout(showlegend=len(fig.data) > 1)
    return fig


def _trace_name(label: str | None, measure: str, n_measures: int) -> str:
    """The legend entry; `label` is already literal."""
    if label is None:
        return literal(measure)
    return label if n_measures == 1 else f"{label} · {literal(measure)}"


def funnel(spec: ChartSpec, table: pa.Table) -> go.Figure:
    assert spec.x is not None
    fig = go.Figure()
    order = "step" if "step" in table.column_names else None
    for label, part in _groups(table, spec.series):
        if order:
            part = _sorted_by(part, order)
        fig.add_trace(go.Funnel(y=[str(v) for v in col(part, spec.x)], x=col(part, spec.y[0]),
                                name=label or literal(spec.y[0]),
                                textinfo="value+percent initial",
                                texttemplate=f"%{{value:{NUMBER_FORMAT}}}<br>"
                                             f"%{{percentInitial:{PERCENT_FORMAT}}}"))
    fig.update_layout(showlegend=len(fig.data) > 1)
    return fig


def heatmap(spec: ChartSpec, table: pa.Table) -> go.Figure:
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
    shares = all(0.0 <= v <= 1.0 for row in z for v in row if v is not None)
    value_format = PERCENT_FORMAT if shares else NUMBER_FORMAT
    fig = go.Figure(go.Heatmap(
        z=z, x=[literal(str(c)) for c in cols], y=[literal(_label(r)) for r in rows],
        colorscale=[list(stop) for stop in SEQUENTIAL], zmin=0.0 if shares else None,
        zmax=1.0 if shares else None, text=_cell_text(z, shares), texttemplate="%{text}",
        hoverongaps=False, colorbar={"tickformat": ".0%" if shares else NUMBER_FORMAT},
        hovertemplate=(f"{literal(spec.series)} %{{y}}, {literal(spec.x)} %{{x}}: "
                       f"%{{z:{value_format}}}<extra></extra>")))
    fig.update_yaxes(autorange="reversed", title_text=literal(spec.series), type="category",
                     showgrid=False)
    fig.update_xaxes(title_text=literal(spec.x), type="category", showline=False, ticks="")
    return fig


def _label(value: Any) -> str:
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date().isoformat()
    return str(value)


def _cell_text(z: Sequence[Sequence[float | None]], shares: bool) -> list[list[str]]:
    return [["" if v is None else f"{v:.0%}" if shares else f"{v:,.4g}" for v in row]
            for row in z]


def number(spec: ChartSpec, table: pa.Table) -> go.Figure:
    """The first y as a big number; with a second y (the previous period's value), the change.

    The change is relative (``▲ 12.5%``) when the previous value is positive, and absolute
    (``▲ 40``) when it is zero or negative, where a percentage means nothing.
    """
    value = _first(table, spec.y[0])
    title = literal(spec.y[0])
    previous = _first(table, spec.y[1]) if len(spec.y) > 1 else None
    if value is None or previous is None:
        return go.Figure(go.Indicator(mode="number", value=value, title={"text": title}))
    relative = previous > 0
    delta = {"reference": previous, "relative": relative,
             "valueformat": "+" + (PERCENT_FORMAT if relative else NUMBER_FORMAT)}
    title += (f"<br><span style='font-size:0.8em;color:{MUTED}'>"
              f"{literal(spec.y[1])}: {_number_text(previous)}</span>")
    return go.Figure(go.Indicator(mode="number+delta", value=value, delta=delta,
                                  title={"text": title}))


def _number_text(value: float) -> str:
    """Like NUMBER_FORMAT: ``1,234.5``, ``1,000``."""
    text = f"{value:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _first(table: pa.Table, name: str) -> float | None:
    values = table.column(name).slice(0, 1).to_pylist()
    return None if not values or values[0] is None else float(values[0])


def data_table(spec: ChartSpec, table: pa.Table) -> go.Figure:
    columns = table.column_names
    numeric = [is_numeric(table.schema.field(c).type) for c in columns]
    return go.Figure(go.Table(
        header={"values": [literal(c) for c in columns],
                "align": ["right" if n else "left" for n in numeric]},
        cells={"values": [col(table, c) for c in columns],
               "format": [NUMBER_FORMAT if n else "" for n in numeric],
               "align": ["right" if n else "left" for n in numeric]}))

