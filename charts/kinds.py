"""Every chart kind, once: the function that draws it and what it needs from a spec.

`ChartSpec.kind`, the checks of `charts.figure.problems`, the drawing, the kinds the analyst
is told about and the time series (thinned before they are drawn) all derive from `KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from charts import _draw

if TYPE_CHECKING:
    import plotly.graph_objects as go
    import pyarrow as pa

    from charts.spec import ChartSpec


@dataclass(frozen=True)
class Kind:
    """A chart kind. `x`: it needs an x column; `measures`: it draws numeric y columns (a
    table shows any columns); `series`: it needs series, holding this; `time_series`: x is
    time, so a long result is thinned into time buckets."""

    name: str
    draw: Callable[[ChartSpec, pa.Table], go.Figure]
    x: bool = True
    measures: bool = True
    series: str = ""
    time_series: bool = False


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("line", _draw.line, time_series=True),
    Kind("area", _draw.area, time_series=True),
    Kind("bar", _draw.bar),
    Kind("stacked_bar", _draw.stacked_bar),
    Kind("funnel", _draw.funnel),
    Kind("retention_heatmap", _draw.heatmap, series="the cohort column"),
    Kind("number", _draw.number, x=False),
    Kind("table", _draw.data_table, x=False, measures=False),
)}
CHART_KINDS = tuple(KINDS)
TIME_SERIES_KINDS = frozenset(kind.name for kind in KINDS.values() if kind.time_series)
