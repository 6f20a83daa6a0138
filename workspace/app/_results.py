"""Showing a query result the same way on every analyst page: flags, chart, table, downloads,
and errors as a message with a hint (never a traceback)."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import streamlit as st

from causality.errors import CausalityError
from charts import ChartError, ChartSpec, auto_spec, problems, to_figure
from guardrails.execute import Execution
from warehouse.engines import Estimate
from workspace.app._look import plain
from workspace.service import Workspace

FLAG_TEXT = {
    "empty_result": "The query returned no rows.",
    "truncated": "Only the first rows are shown: the result hit the row cap.",
    "unknown_estimate": "The engine could not estimate the cost, so the run had stricter "
                        "row and time caps.",
    "absurd_magnitude": "Some numbers are implausibly large; check units and joins.",
}
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Shown:
    """A result on screen: the SQL that ran (Trino, after the guardrails), its table, its
    chart, and what pinning or exporting it needs."""

    sql: str
    table: pa.Table
    chart: ChartSpec
    question: str = ""
    insight: str | None = None
    scope: str | None = None
    flags: tuple[str, ...] = ()
    estimate: Estimate | None = None
    #: the text a person typed or the model wrote, before the guardrails rewrote it
    source_sql: str | None = None
    #: what the chart draws when it is not `table`: a long time series in time buckets
    points: pa.Table | None = None


def from_execution(run: Execution, *, question: str, insight: str | None,
                   scope: str | None, chart: ChartSpec | None = None,
                   source_sql: str | None = None, ws: Workspace | None = None,
                   actor: str = "", written: str | None = None) -> Shown:
    """`written` is the SQL before the guardrails (default: `source_sql`); with `ws`, a long
    time series is charted in buckets the engine computes (`Workspace.chart_data`)."""
    table = run.table
    if chart is None or problems(chart, table):
        chart = auto_spec(table, insight, title="")
    points = None
    written = written or source_sql
    if ws is not None and written:
        try:
            thinned, down = ws.chart_data(written, table, chart, truncated=run.result.truncated,
                                          tenant=scope, actor=actor, source="sql",
                                          question=question)
        except CausalityError:
            thinned, down = table, False  # the table is still right; the chart shows it all
        points = thinned if down else None
    return Shown(sql=run.checked.sql, table=table, chart=chart, question=question,
                 insight=insight, scope=scope, flags=run.flags, estimate=run.estimate,
                 source_sql=source_sql, points=points)


def show_error(err: CausalityError | Mapping[str, Any]) -> None:
    """The message, the stable code, and the hint."""
    body = err.to_dict() if isinstance(err, CausalityError) else dict(err)
    message = plain(body.get("message") or "Something went wrong.", limit=2000)
    code = str(body.get("code") or "error").replace("`", "")[:80]
    st.error(f"{message}  \n`{code}`", icon=":material/error:")
    if body.get("hint"):
        st.caption(f"Hint: {plain(body['hint'], limit=1000)}")
    attempts = body.get("attempts")
    if isinstance(attempts, list) and attempts:
        with st.expander(f"What was tried ({len(attempts)} attempts)"):
            for n, attempt in enumerate(attempts, start=1):
                refusal = attempt.get("error") or {}
                st.markdown(f"{n}. `{refusal.get('code', 'error')}`: "
                            f"{plain(refusal.get('message', ''), limit=500)}")
                if attempt.get("sql"):
                    st.code(attempt["sql"], language="sql")


def show_flags(flags: tuple[str, ...]) -> None:
    for flag in flags:
        st.warning(FLAG_TEXT.get(flag, flag), icon=":material/info:")


def show_chart(shown: Shown, key: str) -> None:
    chart = shown.chart
    points = shown.table if shown.points is None else shown.points
    if problems(chart, points):
        chart = auto_spec(points, shown.insight)
    if chart.kind == "table" or points.num_rows == 0:
        return
    try:
        figure = to_figure(chart, points)
    except ChartError as err:
        st.caption(f"No chart: {plain(err.message)}")
        return
    st.plotly_chart(figure, key=key, theme=None)  # our theme, not Streamlit's
    if shown.points is not None:
        st.caption(f"The chart shows {points.num_rows:,} time buckets (averages) of the "
                   f"{shown.table.num_rows:,} rows; the table and downloads have every row.")


def show_table(table: pa.Table, key: str) -> None:
    st.dataframe(table, key=key, hide_index=True)
    noun = "row" if table.num_rows == 1 else "rows"
    st.caption(f"{table.num_rows:,} {noun} · {table.num_columns} columns")


def show_result(shown: Shown, key: str, *, with_downloads: bool = True) -> None:
    show_flags(shown.flags)
    show_chart(shown, key=f"{key}-chart")
    show_table(shown.table, key=f"{key}-table")
    if with_downloads:
        downloads(shown.table, shown.question or "result", key)


def downloads(table: pa.Table, name: str, key: str) -> None:
    stem = slug(name)
    left, right = st.columns(2)
    with left:
        st.download_button("Download CSV", csv_bytes(table), file_name=f"{stem}.csv",
                           mime="text/csv", key=f"{key}-csv", on_click="ignore",
                           icon=":material/download:")
    with right:
        st.download_button("Download Parquet", parquet_bytes(table),
                           file_name=f"{stem}.parquet", mime="application/vnd.apache.parquet",
                           key=f"{key}-parquet", on_click="ignore",
                           icon=":material/download:")


def csv_bytes(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pa_csv.write_csv(table, out)
    return out.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def slug(text: str, limit: int = 60) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:limit].rstrip("-") or "result"


def describe_estimate(estimate: Estimate | None) -> str:
    """'about 1,200 rows · 3.4 MB scanned', or says the engine cannot tell."""
    if estimate is None or not estimate.known:
        return "unknown (the engine could not estimate this query)"
    parts = []
    if estimate.rows is not None:
        parts.append(f"about {estimate.rows:,} rows")
    if estimate.bytes is not None:
        parts.append(f"{human_bytes(estimate.bytes)} scanned")
    return " · ".join(parts)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} bytes"
