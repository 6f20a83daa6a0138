"""What the model returns: one query (a typed insight, or free SQL when none fits), a short
explanation, the assumptions made, and a chart spec. All data; nothing here is executed."""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from charts import ChartSpec
from workspace.insights import INSIGHT_KINDS, KINDS, Insight

MAX_SQL_CHARS = 20_000


class SqlQuery(BaseModel):
    """Free SQL, only when no insight fits: one read-only Trino SELECT over `events`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sql"] = "sql"
    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS)


if TYPE_CHECKING:
    Query = Insight | SqlQuery
else:
    Query = Annotated[reduce(or_, (*(kind.model for kind in KINDS.values()), SqlQuery)),
                      Field(discriminator="kind")]


class Plan(BaseModel):
    """The answer to one question, as data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    query: Query = Field(description=f"a typed insight ({', '.join(INSIGHT_KINDS)}), "
                                     "or kind=sql when none fits")
    explanation: str = Field(max_length=2000,
                             description="one or two sentences: what the result shows and how")
    assumptions: list[str] = Field(default_factory=list, max_length=10,
                                   description="each interpretation made (dates, definitions)")
    chart: ChartSpec | None = Field(None, description="how to draw the result; null = automatic")

    @property
    def is_insight(self) -> bool:
        return not isinstance(self.query, SqlQuery)
