"""Charts as data: a `ChartSpec` (never code) drawn as a plotly figure in one theme, picked for a
table when no spec is given, and long time series thinned in SQL before they are drawn."""

from charts.downsample import downsample_sql, needs_downsampling
from charts.errors import ChartError
from charts.figure import auto_spec, problems, to_figure
from charts.spec import ChartKind, ChartSpec
from charts.theme import PALETTE, PRIMARY, TEMPLATE_NAME

__all__ = [
    "PALETTE", "PRIMARY", "TEMPLATE_NAME", "ChartError", "ChartKind", "ChartSpec", "auto_spec",
    "downsample_sql", "needs_downsampling", "problems", "to_figure",
]
