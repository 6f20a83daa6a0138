"""An answer or a dashboard as a marimo notebook (``.py``) that reproduces it.

The notebook connects through `causality.api.connect` under the same app scope, re-runs each
query through the guardrails (``cz.query``), shows the table and redraws the chart from the
same `ChartSpec`. Everything a person typed (titles, SQL) and the chart specs are embedded as
Python string literals made by ``repr`` — data, never code — so no text can change what the
notebook does. Each cell defines numbered names (``sql_1``, ``table_1``, ...): marimo forbids
defining a name in two cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import marimo

from charts import ChartSpec
from warehouse.layout import validate_app_id
from workspace.errors import WorkspaceError

MAX_QUERIES = 50


class NotebookError(WorkspaceError):
    code = "notebook_error"


@dataclass(frozen=True)
class NotebookQuery:
    """One query to reproduce: its heading, its Trino SQL, how to chart it."""

    title: str
    sql: str
    chart: ChartSpec | None = None
    insight: str | None = None

    def __post_init__(self) -> None:
        texts = {"title": self.title, "sql": self.sql, "insight": self.insight or ""}
        for name, value in texts.items():
            if not isinstance(value, str):
                raise NotebookError(f"the {name} of a notebook query must be text",
                                    code="bad_notebook_query", hint=f"got {type(value).__name__}")
        if self.chart is not None and not isinstance(self.chart, ChartSpec):
            raise NotebookError("the chart of a notebook query must be a ChartSpec",
                                code="bad_notebook_query", hint="or leave it out")


_HEAD = '''\
# A Causality notebook: each query re-runs through the guardrails and redraws its chart.
# Run it with `python <this file>`, open it with `marimo edit <this file>`, or render it
# with `marimo export html <this file> -o page.html`. Settings come from CAUSALITY_* env
# variables (or the TOML file in CAUSALITY_CONFIG), as for the `causality` command.

import marimo

__generated_with = {version}
app = marimo.App(width="medium", app_title={title})


@app.cell
def _():
    import html
    import re

    import marimo as mo

    from causality.api import ChartSpec, connect

    def text(value):
        """`value` shown as written in markdown: HTML and markdown syntax escaped."""
        return re.sub(r"([\\\\`*_{{}}\\[\\]()#+\\-.!])", r"\\\\\\1", html.escape(value))
    return ChartSpec, connect, mo, text


@app.cell
def _(connect):
    cz = connect(app_id={app_id})
    return (cz,)


@app.cell
def _(cz, mo, text):
    mo.md("# " + text({title}) + "\\n\\n" + text(repr(cz)))
    return
'''

_QUERY = '''

@app.cell
def _(cz):
    sql_{n} = {sql}
    table_{n} = cz.query(sql_{n})
    return sql_{n}, table_{n}


@app.cell
def _(ChartSpec, cz, mo, sql_{n}, table_{n}, text):
    chart_{n} = {chart}
    figure_{n} = cz.chart(table_{n}, chart_{n}, insight={insight})
    mo.vstack([
        mo.md("## " + text({title})),
        mo.ui.table(table_{n}, selection=None),
        figure_{n},
        mo.accordion({{"SQL": mo.plain_text(sql_{n})}}),
    ])
    return chart_{n}, figure_{n}
'''

_TAIL = '''

if __name__ == "__main__":
    app.run()
'''


def notebook_source(title: str, queries: Sequence[NotebookQuery], *,
                    app_id: str | None) -> str:
    """The text of a marimo notebook that re-runs ``queries`` under ``app_id``'s scope."""
    if not queries:
        raise NotebookError("there is nothing to put in the notebook",
                            code="empty_notebook", hint="pin an answer or pick a chat turn first")
    if len(queries) > MAX_QUERIES:
        raise NotebookError(f"a notebook holds at most {MAX_QUERIES} queries",
                            code="too_many_queries", hint="export fewer turns or tiles")
    if app_id is not None:
        validate_app_id(app_id)
    parts = [_HEAD.format(version=_literal(marimo.__version__), title=_literal(str(title)),
                          app_id=_literal(app_id))]
    for n, query in enumerate(queries, start=1):
        parts.append(_QUERY.format(n=n, sql=_literal(query.sql), title=_literal(query.title),
                                   chart=_chart_literal(query.chart),
                                   insight=_literal(query.insight)))
    parts.append(_TAIL)
    return "".join(parts)


def _literal(text: str | None) -> str:
    """A Python literal for ``text``; `str.__repr__` so no subclass can override it."""
    return "None" if text is None else str.__repr__(text)


def _chart_literal(chart: ChartSpec | None) -> str:
    """The chart spec as JSON inside a string literal, loaded by pydantic at run time."""
    if chart is None:
        return "None"
    return f"ChartSpec.model_validate_json({_literal(chart.model_dump_json())})"
