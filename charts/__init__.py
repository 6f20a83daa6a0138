"""Charts as data: a `ChartSpec` (never code) drawn as a plotly figure in one theme, or picked
for a table when no spec is given. `CHART_KINDS` lists the kinds (`charts.kinds` says how each
is drawn); `TIME_SERIES_KINDS` are those whose x is time."""

from charts.errors import ChartError
from charts.figure import auto_spec, problems, to_figure
from charts.kinds import CHART_KINDS, TIME_SERIES_KINDS
from charts.spec import ChartKind, ChartSpec
from charts.theme import PALETTE, PRIMARY, TEMPLATE_NAME

__all__ = [
    "CHART_KINDS", "PALETTE", "PRIMARY", "TEMPLATE_NAME", "TIME_SERIES_KINDS", "ChartError",
    "ChartKind", "ChartSpec", "auto_spec", "problems", "to_figure",
]
