"""A chart as data: which kind, which result columns go where, a title. Never code.

The planner proposes one; `charts.figure.to_figure` draws it; `charts.figure.auto_spec` picks
one when the model did not, or proposed columns the result does not have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from charts.kinds import CHART_KINDS

if TYPE_CHECKING:
    ChartKind = str
else:
    ChartKind = Literal[CHART_KINDS]
MAX_COLUMN_CHARS = 128
MAX_TITLE_CHARS = 200


class ChartSpec(BaseModel):
    """How to draw a result table.

    `x` is the category or time axis (for `funnel`: the step label; for `retention_heatmap`:
    the period). `y` lists the measure columns (for `number`: the first is shown; a second,
    the previous period's value, adds the change). `series` splits one measure into one trace
    per value (for `retention_heatmap`: the cohort rows).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ChartKind = Field(description="|".join(CHART_KINDS))
    x: str | None = Field(None, max_length=MAX_COLUMN_CHARS,
                          description="result column on the x axis (time or category)")
    y: list[str] = Field(default_factory=list, max_length=20,
                         description="result columns holding the measures (number: the "
                                     "value, then optionally the previous period's value)")
    series: str | None = Field(None, max_length=MAX_COLUMN_CHARS,
                               description="result column splitting the measure into series")
    title: str = Field("", max_length=MAX_TITLE_CHARS)

    def columns(self) -> list[str]:
        """Every result column the spec refers to."""
        named = [self.x, *self.y, self.series]
        return [name for name in named if name]
