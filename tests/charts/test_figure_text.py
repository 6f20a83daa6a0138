"""Column names, category values and titles reach plotly as literal text.

Plotly reads a small set of HTML tags (``<b>``, ``<a href>``, ``<br>``, …) and entities in titles,
axis and tick labels, legend entries and table cells. Every one of those strings comes from a
result (a column alias, a category value) or a person, so each is escaped: ``<``, ``>`` and ``&``
become entities, which plotly shows as the characters themselves.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from charts import ChartSpec, to_figure
from tests.charts._text import strings

TAG = "<a href='javascript:alert(1)'>x</a>"
IMG = "n<img src=x onerror=alert(1)>"
AMP = "Q&A <b>"
SAFE = {TAG: "&lt;a href='javascript:alert(1)'&gt;x&lt;/a&gt;",
        IMG: "n&lt;img src=x onerror=alert(1)&gt;",
        AMP: "Q&amp;A &lt;b&gt;"}




def drawn(spec: ChartSpec, table: pa.Table) -> dict[str, Any]:
    figure: dict[str, Any] = json.loads(to_figure(spec, table).to_json())
    figure["layout"].pop("template", None)
    return figure


def assert_no_markup(figure: dict[str, Any], *, allowed: tuple[str, ...] = ()) -> None:
    for text in strings(figure):
        for tag in allowed:
            text = text.replace(tag, "")
        assert "<" not in text and ">" not in text, text


CATEGORIES = pa.table({TAG: [AMP, "plain", IMG], IMG: [3, 2, 1], "other": [1, 1, 1]})


@pytest.mark.parametrize("kind", ["bar", "line", "area", "stacked_bar"])
def test_axis_titles_ticks_and_legend_are_escaped(kind: str) -> None:
    series = "other" if kind == "stacked_bar" else None
    spec = ChartSpec(kind=kind, x=TAG, y=[IMG], series=series, title=AMP)  # type: ignore[arg-type]
    figure = drawn(spec, CATEGORIES.set_column(2, "other", pa.array([AMP, "b", TAG])))
    layout = figure["layout"]
    assert layout["xaxis"]["title"]["text"] == SAFE[TAG]
    assert layout["yaxis"]["title"]["text"] == SAFE[IMG]
    assert layout["title"]["text"] == SAFE[AMP]
    xs = [x for trace in figure["data"] for x in trace["x"]]
    assert SAFE[AMP] in xs and SAFE[IMG] in xs
    if series:
        assert {trace["name"] for trace in figure["data"]} == {SAFE[AMP], "b", SAFE[TAG]}
    assert_no_markup(figure)


def test_measure_names_in_the_legend_are_escaped() -> None:
    table = pa.table({"day": ["a", "b"], IMG: [1, 2], AMP: [3, 4]})
    figure = drawn(ChartSpec(kind="bar", x="day", y=[IMG, AMP]), table)
    assert [trace["name"] for trace in figure["data"]] == [SAFE[IMG], SAFE[AMP]]
    assert_no_markup(figure)


def test_funnel_steps_and_breakdown_are_escaped() -> None:
    table = pa.table({"step": [1, 2, 1, 2], "event": [TAG, IMG, TAG, IMG],
                      "users": [10, 4, 8, 2], "breakdown": [AMP, AMP, "ios", "ios"]})
    figure = drawn(ChartSpec(kind="funnel", x="event", y=["users"], series="breakdown"), table)
    assert [list(trace["y"]) for trace in figure["data"]] == [[SAFE[TAG], SAFE[IMG]]] * 2
    assert [trace["name"] for trace in figure["data"]] == [SAFE[AMP], "ios"]
    assert_no_markup(figure, allowed=("<br>",))


def test_heatmap_labels_and_axis_titles_are_escaped() -> None:
    table = pa.table({TAG: [AMP, AMP, "b"], "period": [0, 1, 0], IMG: [1.0, 0.5, 1.0]})
    figure = drawn(ChartSpec(kind="retention_heatmap", x="period", y=[IMG], series=TAG), table)
    (heat,) = figure["data"]
    assert heat["y"] == [SAFE[AMP], "b"]
    assert figure["layout"]["yaxis"]["title"]["text"] == SAFE[TAG]
    assert SAFE[TAG] in heat["hovertemplate"]
    assert_no_markup(figure, allowed=("<extra>", "</extra>"))


def test_table_headers_and_text_cells_are_escaped() -> None:
    figure = drawn(ChartSpec(kind="table"), pa.table({TAG: [AMP, "ok"], IMG: [1, 2]}))
    (table,) = figure["data"]
    assert table["header"]["values"] == [SAFE[TAG], SAFE[IMG]]
    assert table["cells"]["values"] == [[SAFE[AMP], "ok"], [1, 2]]
    assert_no_markup(figure)


def test_number_titles_are_escaped_and_quotes_stay_quotes() -> None:
    """Plotly knows ``&lt; &gt; &amp;`` and numeric entities, not ``&quot;``: a quote in a
    name stays a quote."""
    table = pa.table({'say "hi" <b>': [5], "prev <i>": [4]})
    (indicator,) = drawn(ChartSpec(kind="number", y=['say "hi" <b>', "prev <i>"]),
                         table)["data"]
    title = indicator["title"]["text"]
    assert title.startswith('say "hi" &lt;b&gt;<br>')
    assert "prev &lt;i&gt;: 4" in title
