"""Chart specs → plotly figures, and the automatic choice."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import get_args

import plotly.io as pio
import pyarrow as pa
import pytest
from pydantic import ValidationError

import charts
from charts import (
    PALETTE,
    TEMPLATE_NAME,
    ChartError,
    ChartKind,
    ChartSpec,
    auto_spec,
    problems,
    to_figure,
)
from charts.theme import MARGIN, SEQUENTIAL, TITLED_TOP_MARGIN

DAYS = [datetime(2026, 10, d) for d in (5, 6, 7)]


def test_the_kinds_are_listed_once() -> None:
    assert get_args(ChartKind) == charts.CHART_KINDS
    assert ChartSpec.model_json_schema()["properties"]["kind"]["enum"] == list(charts.CHART_KINDS)
    assert set(charts.TIME_SERIES_KINDS) == {"line", "area"}


def test_spec_is_strict_data() -> None:
    with pytest.raises(ValidationError):
        ChartSpec.model_validate({"kind": "pie"})
    with pytest.raises(ValidationError):
        ChartSpec.model_validate({"kind": "line", "code": "import os"})
    assert ChartSpec(kind="bar", x="a", y=["b"], series="c").columns() == ["a", "b", "c"]


@pytest.mark.parametrize(("table", "kind", "expected"), [
    (pa.table({"period": DAYS, "value": [1, 2, 3]}), None,
     ChartSpec(kind="line", x="period", y=["value"])),
    (pa.table({"period": DAYS, "breakdown": ["US", "DE", "US"], "value": [1, 2, 3]}), "trend",
     ChartSpec(kind="line", x="period", y=["value"], series="breakdown")),
    (pa.table({"dt": ["2026-10-05", "2026-10-06"], "n": [1, 2]}), None,
     ChartSpec(kind="line", x="dt", y=["n"])),
    (pa.table({"country": ["US", "DE"], "users": [3, 1]}), None,
     ChartSpec(kind="bar", x="country", y=["users"])),
    (pa.table({"app": ["a", "a"], "plan": ["x", "y"], "n": [1, 2]}), None,
     ChartSpec(kind="stacked_bar", x="app", y=["n"], series="plan")),
    (pa.table({"users": [7]}), None, ChartSpec(kind="number", y=["users"])),
    (pa.table({"step": [1, 2], "event": ["a", "b"], "users": [5, 3]}), "funnel",
     ChartSpec(kind="funnel", x="event", y=["users"])),
    (pa.table({"cohort": DAYS[:2], "period": [0, 1], "retention": [1.0, 0.5]}), "retention",
     ChartSpec(kind="retention_heatmap", x="period", y=["retention"], series="cohort")),
    (pa.table({"days_active": [1, 2], "users": [3, 3], "share": [0.5, 0.5]}), "stickiness",
     ChartSpec(kind="bar", x="days_active", y=["users"])),
    (pa.table({"step": [1, 2], "event": ["a", "b"], "users": [5, 3],
               "breakdown": ["all", "all"]}), None,
     ChartSpec(kind="funnel", x="event", y=["users"], series="breakdown")),
    (pa.table({"event": ["a", "b"], "users": [5, 3]}), "funnel",
     ChartSpec(kind="funnel", x="event", y=["users"])),
    (pa.table({"cohort": DAYS[:2], "period": [0, 0], "cohort_size": [4, 2], "users": [4, 2],
               "retention": [1.0, 1.0]}), None,
     ChartSpec(kind="retention_heatmap", x="period", y=["retention"], series="cohort")),
    (pa.table({"event": ["a", "b"], "users": [5, 3]}), "trend",
     ChartSpec(kind="bar", x="event", y=["users"])),
    (pa.table({"value": [12], "previous": [10]}), None,
     ChartSpec(kind="number", y=["value", "previous"])),
    (pa.table({"previous": [10.0], "current": [12.5]}), None,
     ChartSpec(kind="number", y=["current", "previous"])),
    (pa.table({"revenue": [1.5], "prev_revenue": [2.0]}), "sql",
     ChartSpec(kind="number", y=["revenue", "prev_revenue"])),
    (pa.table({"users": [3], "events": [9]}), None,
     ChartSpec(kind="bar", x="users", y=["events"])),
    (pa.table({"a": ["x"], "b": ["y"]}), None, ChartSpec(kind="table")),
    (pa.table({"n": pa.array([], pa.int64())}), None, ChartSpec(kind="table")),
])
def test_auto_spec(table: pa.Table, kind: str | None, expected: ChartSpec) -> None:
    spec = auto_spec(table, kind)
    assert spec == expected
    to_figure(spec, table)  # and it draws


def test_each_kind_draws() -> None:
    trend = pa.table({"period": DAYS, "breakdown": ["US", "DE", "US"], "value": [1, 2, 3]})
    for kind in ("line", "area", "bar", "stacked_bar"):
        fig = to_figure(ChartSpec(kind=kind, x="period", y=["value"], series="breakdown",
                                  title="t"), trend)
        assert [t.name for t in fig.data] == ["US", "DE"]
        assert fig.layout.title.text == "t"
    stacked = to_figure(ChartSpec(kind="stacked_bar", x="period", y=["value"],
                                  series="breakdown"), trend)
    assert stacked.layout.barmode == "stack"
    funnel = pa.table({"step": [2, 1], "event": ["b", "a"], "users": [3, 5]})
    fig = to_figure(ChartSpec(kind="funnel", x="event", y=["users"]), funnel)
    assert list(fig.data[0].y) == ["a", "b"] and list(fig.data[0].x) == [5, 3]
    heat = pa.table({"cohort": [DAYS[0], DAYS[0], DAYS[1]], "period": [0, 1, 0],
                     "retention": [1.0, 0.6, 1.0]})
    fig = to_figure(ChartSpec(kind="retention_heatmap", x="period", y=["retention"],
                              series="cohort"), heat)
    assert [list(row) for row in fig.data[0].z] == [[1.0, 0.6], [1.0, None]]
    assert list(fig.data[0].y) == ["2026-10-05", "2026-10-06"]
    assert to_figure(ChartSpec(kind="number", y=["value"]), trend).data[0].value == 1
    assert len(to_figure(ChartSpec(kind="table"), trend).data[0].header.values) == 3


def test_problems_and_errors() -> None:
    table = pa.table({"day": ["a"], "n": [1], "label": ["x"]})
    assert problems(ChartSpec(kind="line", x="day", y=["n"]), table) == []
    assert problems(ChartSpec(kind="line", x="nope", y=["n"]), table) == [
        "the result has no column 'nope'"]
    assert problems(ChartSpec(kind="bar", x="day", y=["label"]), table) == [
        "y column 'label' is not numeric"]
    assert problems(ChartSpec(kind="line", y=["n"]), table) == ["a line chart needs x"]
    with pytest.raises(ChartError) as caught:
        to_figure(ChartSpec(kind="bar", x="nope", y=["n"]), table)
    assert caught.value.code == "bad_chart"


def test_html_works_offline(tmp_path: Path) -> None:
    out = tmp_path / "chart.html"
    table = pa.table({"period": DAYS, "value": [1, 2, 3]})
    to_figure(auto_spec(table), table).write_html(str(out), include_plotlyjs=True)
    html = out.read_text()
    assert len(html) > 1_000_000  # plotly.js is inlined
    assert "<script src=" not in html.replace('<script src="data:', "")


HEAT = pa.table({"cohort": [DAYS[0], DAYS[0], DAYS[1]], "period": [0, 1, 0],
                 "retention": [1.0, 0.6, 1.0]})
FUNNEL = pa.table({"step": [1, 2], "event": ["a", "b"], "users": [5, 3]})
TREND = pa.table({"period": DAYS, "breakdown": ["US", "DE", "US"], "value": [1, 2, 3]})
EVERY_KIND = [
    (ChartSpec(kind="line", x="period", y=["value"], series="breakdown"), TREND),
    (ChartSpec(kind="area", x="period", y=["value"]), TREND),
    (ChartSpec(kind="bar", x="breakdown", y=["value"]), TREND),
    (ChartSpec(kind="stacked_bar", x="period", y=["value"], series="breakdown"), TREND),
    (ChartSpec(kind="funnel", x="event", y=["users"]), FUNNEL),
    (ChartSpec(kind="retention_heatmap", x="period", y=["retention"], series="cohort"), HEAT),
    (ChartSpec(kind="number", y=["value"]), TREND),
    (ChartSpec(kind="table"), TREND),
]


def test_every_kind_uses_the_theme() -> None:
    assert {spec.kind for spec, _ in EVERY_KIND} == set(get_args(ChartKind))
    theme = pio.templates[TEMPLATE_NAME]
    for spec, table in EVERY_KIND:
        fig = to_figure(spec, table)
        assert fig.layout.template == theme, spec.kind
        assert tuple(fig.layout.template.layout.colorway) == PALETTE
        assert fig.layout.margin.t == MARGIN["t"]
        titled = to_figure(spec.model_copy(update={"title": "Sales <by> day & night"}), table)
        assert titled.layout.title.text == "Sales &lt;by&gt; day &amp; night"
        assert titled.layout.margin.t == TITLED_TOP_MARGIN


def test_time_series_lines_break_at_gaps_and_hover_together() -> None:
    gappy = pa.table({"period": DAYS, "value": [1.0, None, 3.0]})
    fig = to_figure(ChartSpec(kind="line", x="period", y=["value"]), gappy)
    (trace,) = fig.data
    assert trace.connectgaps is False and list(trace.y) == [1.0, None, 3.0]
    assert fig.layout.hovermode == "x unified"
    assert trace.mode == "lines+markers"  # a short series shows its points
    many = pa.table({"period": [datetime(2026, 10, 1) + timedelta(hours=h) for h in range(200)],
                     "value": list(range(200))})
    assert to_figure(ChartSpec(kind="area", x="period", y=["value"]), many).data[0].mode == "lines"
    assert to_figure(ChartSpec(kind="bar", x="breakdown", y=["value"]),
                     TREND).layout.hovermode is None
    assert to_figure(ChartSpec(kind="line", x="period", y=["value"]),
                     TREND).layout.showlegend is False


@pytest.mark.parametrize(("value", "previous", "relative", "shown"), [
    (125.0, 100.0, True, "+.1%"),
    (80, 100, True, "+.1%"),
    (40.0, 0.0, False, "+,.2~f"),
    (-5.0, -10.0, False, "+,.2~f"),
])
def test_number_with_delta(value: float, previous: float, relative: bool, shown: str) -> None:
    table = pa.table({"revenue": [value], "previous": [previous]})
    fig = to_figure(ChartSpec(kind="number", y=["revenue", "previous"]), table)
    (indicator,) = fig.data
    assert indicator.mode == "number+delta"
    assert indicator.value == value
    assert indicator.delta.reference == previous
    assert indicator.delta.relative is relative
    assert indicator.delta.valueformat == shown
    assert indicator.title.text.startswith("revenue<br>")
    assert f"previous: {previous:,.0f}" in indicator.title.text


def test_number_without_a_previous_value() -> None:
    table = pa.table({"users": [7], "previous": pa.array([None], pa.int64())})
    fig = to_figure(ChartSpec(kind="number", y=["users", "previous"]), table)
    assert fig.data[0].mode == "number" and fig.data[0].value == 7
    assert to_figure(ChartSpec(kind="number", y=["users"]), table).data[0].mode == "number"


def test_heatmap_and_table_formats() -> None:
    fig = to_figure(EVERY_KIND[5][0], HEAT)
    (heat,) = fig.data
    assert (heat.zmin, heat.zmax) == (0.0, 1.0)
    assert [list(stop) for stop in heat.colorscale] == [list(s) for s in SEQUENTIAL]
    assert [list(row) for row in heat.text] == [["100%", "60%"], ["100%", ""]]
    counts = pa.table({"cohort": [DAYS[0]], "period": [0], "users": [1234]})
    fig = to_figure(ChartSpec(kind="retention_heatmap", x="period", y=["users"],
                              series="cohort"), counts)
    assert fig.data[0].zmin is None and list(fig.data[0].text[0]) == ["1,234"]
    table = to_figure(ChartSpec(kind="table"), TREND).data[0]
    assert list(table.cells.format) == ["", "", ",.2~f"]
    assert list(table.cells.align) == ["left", "left", "right"]
