"""Charts as data: a `ChartSpec` (never code) drawn as a plotly figure, or picked for a table."""

from charts.errors import ChartError
from charts.figure import auto_spec, problems, to_figure
from charts.spec import ChartKind, ChartSpec

__all__ = ["ChartError", "ChartKind", "ChartSpec", "auto_spec", "problems", "to_figure"]
