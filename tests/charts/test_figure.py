"""Chart specs → plotly figures, and the automatic choice."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

import charts
from charts import ChartError, ChartSpec, auto_spec, problems, to_figure

DAYS = [datetime(2026, 10, d) for d in (5, 6, 7)]


def test_public_api() -> None:
    assert sorted(charts.__all__) == [
        "ChartError", "ChartKind", "ChartSpec", "auto_spec", "problems", "to_figure"]


def test_spec_is_strict_data() -> None:
    with pytest.raises(ValidationError):
        ChartSpec(kind="pie")  # type: ignore[arg-type]
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
