"""A dashboard's tiles as a two-column grid, shared by the Dashboards page and the embed view.

Each tile is its own fragment, run in parallel with the others: a slow tile does not hold the
rest back, and a failing tile shows its own error card while the others still render.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from causality.errors import CausalityError
from charts import to_figure
from guardrails.execute import Source
from metadata.dashboards import Tile
from workspace.app._context import idle_too_long
from workspace.app._look import plain
from workspace.filters import Filters
from workspace.service import TileResult, Workspace

GRID_COLUMNS = 2


@dataclass(frozen=True)
class TileRun:
    """Everything a tile needs to run: whose query, under which tenant, from where."""

    filters: Filters
    tenant: str | None
    actor: str
    source: Source
    refresh: bool = False
    removable: bool = False  # an analyst may take a tile off the dashboard


def render_tiles(ws: Workspace, tiles: Sequence[Tile], run: TileRun) -> None:
    if not tiles:
        st.info("This dashboard has no tiles yet. Pin an answer to it from the Chat page.")
        return
    for start in range(0, len(tiles), GRID_COLUMNS):
        row = st.columns(GRID_COLUMNS, gap="medium")
        for column, tile in zip(row, tiles[start:start + GRID_COLUMNS], strict=False):
            with column:
                _tile(ws, tile, run)


@st.fragment(parallel=True)
def _tile(ws: Workspace, tile: Tile, run: TileRun) -> None:
    if run.source != "embed" and idle_too_long(ws.settings.workspace.session_idle_timeout_s):
        st.rerun(scope="app")  # a tile's own rerun skips main.py, which signs idle people out
    with st.container(border=True):
        head, tools = st.columns([5, 1], vertical_alignment="center")
        head.markdown(f"**{plain(tile.title)}**")
        refresh = run.refresh
        if run.source != "embed" and tools.button(
                "", key=f"refresh-{tile.tile_id}", icon=":material/refresh:",
                help="Run this tile again", type="tertiary"):
            refresh = True
        result = ws.run_tile(tile, run.filters, tenant=run.tenant, actor=run.actor,
                             source=run.source, refresh=refresh)
        _body(result)
        if run.removable:
            _remove_button(ws, tile)


def _body(result: TileResult) -> None:
    if result.error is not None:
        _error_card(result.error)
        return
    if result.table is None or result.chart is None:
        st.warning("This tile returned nothing to draw.")
        return
    try:
        figure = to_figure(result.chart, result.table)
    except CausalityError as err:
        st.warning(f"The chart cannot be drawn: {plain(err.message)}. Showing the table "
                   "instead.")
        st.dataframe(result.table, hide_index=True)
    else:
        st.plotly_chart(figure, theme=None, key=f"chart-{result.tile.tile_id}")
    st.caption(_caption(result))


def _caption(result: TileResult) -> str:
    rows = result.table.num_rows if result.table is not None else 0
    parts = [f"{rows:,} row{'s' if rows != 1 else ''}",
             "cached" if result.cached else f"{result.seconds:.2f} s"]
    if result.downsampled:
        parts.append("bucketed to fit the chart")
    return " · ".join(parts)


def _error_card(error: dict[str, object]) -> None:
    message = str(error.get("message") or "this tile could not run")
    hint = plain(error.get("hint") or "", limit=1000)
    code = str(error.get("code") or "error").replace("`", "")[:80]  # a code span is literal
    st.error(plain(f"{message[:1].upper()}{message[1:]}", limit=2000), icon=":material/error:")
    st.caption(f"{hint} · code `{code}`" if hint else f"code `{code}`")


def _remove_button(ws: Workspace, tile: Tile) -> None:
    if st.button("Remove tile", key=f"remove-{tile.tile_id}", icon=":material/delete:",
                 type="tertiary"):
        try:
            ws.dashboards.remove_tile(tile.tile_id)
        except CausalityError as err:
            st.error(f"{plain(err.message)} — {plain(err.hint)}")
            return
        st.rerun(scope="app")
