"""Causality's one chart theme: a plotly template named :data:`TEMPLATE_NAME`, and its colours.

Every figure `charts.to_figure` draws uses it. The Streamlit app can match it with
:data:`PRIMARY`, :data:`PALETTE`, :data:`FONT_FAMILY` and :data:`TEXT`; pass
``theme=None`` to ``st.plotly_chart``, or Streamlit paints its own theme over this one.

Colours: the Okabe–Ito palette (made to stay distinct under every common colour-vision
deficiency), with its yellow dropped (1.3:1 on white, unreadable as a line) and its black
softened to charcoal. The first five colours have at least 3:1 contrast on white (WCAG's
bar for graphics); orange and sky blue come last because they are lighter. Under simulated
protanopia, deuteranopia and tritanopia every pair stays at least 15 CIELAB units apart
(tests/charts/test_theme.py checks both). Increase and decrease use bluish green and
vermillion, which colour-blind readers tell apart; the ▲ ▼ carry the meaning too.

Numbers: thousands separated, at most two decimals (``1,234.5``); shares as ``12.3%``.
"""

from __future__ import annotations

from typing import Final

import plotly.graph_objects as go
import plotly.io as pio

TEMPLATE_NAME: Final = "causality"

BLUE, VERMILLION, GREEN, PURPLE = "#0072B2", "#D55E00", "#009E73", "#CC79A7"
CHARCOAL, ORANGE, SKY = "#374151", "#E69F00", "#56B4E9"
#: Series colours, in the order traces take them.
PALETTE: Final = (BLUE, VERMILLION, GREEN, PURPLE, CHARCOAL, ORANGE, SKY)
PRIMARY: Final = BLUE
INCREASING: Final = GREEN
DECREASING: Final = VERMILLION
#: Light to dark, for the retention heatmap (CIELAB lightness falls at every step).
SEQUENTIAL: Final = (
    (0.0, "#F3F8FC"), (0.2, "#D3E5F3"), (0.4, "#A4CAE6"), (0.6, "#6AA8D4"),
    (0.8, "#2F83BF"), (0.9, "#0B5E94"), (1.0, "#0A3D62"),
)

BACKGROUND: Final = "#FFFFFF"
TEXT: Final = "#1F2937"
MUTED: Final = "#6B7280"
GRID: Final = "#E5E7EB"
FONT_FAMILY: Final = ('Inter, "Source Sans Pro", -apple-system, "Segoe UI", Roboto, '
                      "Helvetica, Arial, sans-serif")
FONT_SIZE: Final = 13
#: d3 formats: thousands separated with up to two decimals; a share as a percentage.
NUMBER_FORMAT: Final = ",.2~f"
PERCENT_FORMAT: Final = ".1%"
LINE_WIDTH: Final = 2.5
#: Figure margins in px; the top one leaves room for the title and the legend above the plot.
MARGIN: Final = {"l": 56, "r": 24, "t": 48, "b": 48}
TITLED_TOP_MARGIN: Final = 84


def _axis(*, grid: bool) -> dict[str, object]:
    return {
        "showgrid": grid, "gridcolor": GRID, "gridwidth": 1, "zeroline": False,
        "showline": not grid, "linecolor": GRID, "ticks": "outside" if not grid else "",
        "tickcolor": GRID, "automargin": True, "separatethousands": True,
        "title": {"font": {"color": MUTED, "size": FONT_SIZE - 1}, "standoff": 8},
        "tickfont": {"color": MUTED, "size": FONT_SIZE - 1},
    } | ({"hoverformat": NUMBER_FORMAT} if grid else {})


def build_template() -> go.layout.Template:
    """The theme as a plotly template (registered under :data:`TEMPLATE_NAME` on import)."""
    hover = {"bgcolor": BACKGROUND, "bordercolor": GRID,
             "font": {"family": FONT_FAMILY, "size": FONT_SIZE, "color": TEXT}}
    layout = go.Layout(
        colorway=list(PALETTE),
        font={"family": FONT_FAMILY, "size": FONT_SIZE, "color": TEXT},
        title={"x": 0, "xanchor": "left", "y": 0.97, "yanchor": "top", "pad": {"l": 12},
               "font": {"size": FONT_SIZE + 3, "color": TEXT}},
        paper_bgcolor=BACKGROUND, plot_bgcolor=BACKGROUND,
        margin=MARGIN,
        xaxis=_axis(grid=False), yaxis=_axis(grid=True),
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom",
                "bgcolor": "rgba(0,0,0,0)", "title": {"text": ""}},
        hoverlabel=hover,
        separators=".,",
        colorscale={"sequential": [list(stop) for stop in SEQUENTIAL]},
        bargap=0.25, bargroupgap=0.08,
        funnelmode="group",
    )
    data = {
        "scatter": [go.Scatter(line={"width": LINE_WIDTH}, marker={"size": 6})],
        "bar": [go.Bar(marker={"line": {"width": 0}})],
        "funnel": [go.Funnel(textfont={"color": BACKGROUND},
                             connector={"fillcolor": GRID, "line": {"width": 0}})],
        "heatmap": [go.Heatmap(colorscale=[list(stop) for stop in SEQUENTIAL],
                               xgap=2, ygap=2)],
        "indicator": [go.Indicator(number={"valueformat": NUMBER_FORMAT,
                                           "font": {"size": 48, "color": TEXT}},
                                   delta={"increasing": {"color": INCREASING},
                                          "decreasing": {"color": DECREASING}},
                                   title={"font": {"size": FONT_SIZE + 1, "color": MUTED}})],
        "table": [go.Table(header={"fill": {"color": "#F3F4F6"}, "line": {"color": GRID},
                                   "font": {"color": TEXT, "size": FONT_SIZE}, "align": "left"},
                           cells={"fill": {"color": BACKGROUND}, "line": {"color": GRID},
                                  "font": {"color": TEXT, "size": FONT_SIZE}, "height": 28})],
    }
    return go.layout.Template(layout=layout, data=data)


pio.templates[TEMPLATE_NAME] = build_template()
