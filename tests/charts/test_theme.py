"""The one theme: a registered plotly template whose colours stay readable on white and distinct
for readers with a colour-vision deficiency (simulated with Machado et al. 2009, severity 1)."""

from __future__ import annotations

import itertools
import math

import plotly.io as pio
import pytest

from charts import theme

# Machado, Oliveira & Fernandes (2009), full severity; applied to linear RGB.
CVD = {
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216),
                   (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413),
                     (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602),
                   (0.004733, 0.691367, 0.303900)),
}
NORMAL = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
MIN_DELTA_E = 15.0
MIN_CONTRAST = 3.0  # WCAG 2.1, 1.4.11: graphical objects against their background
HIGH_CONTRAST_COLOURS = 5

Vector = tuple[float, float, float]


def linear_rgb(hex_colour: str) -> Vector:
    def one(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return one(r), one(g), one(b)


def apply(matrix: tuple[Vector, ...], v: Vector) -> Vector:
    x, y, z = (min(1.0, max(0.0, sum(m * c for m, c in zip(row, v, strict=True))))
               for row in matrix)
    return x, y, z


def lab(rgb: Vector) -> Vector:
    xyz = apply(((0.4124564, 0.3575761, 0.1804375), (0.2126729, 0.7151522, 0.0721750),
                 (0.0193339, 0.1191920, 0.9503041)), rgb)
    white = (0.95047, 1.0, 1.08883)

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29
    fx, fy, fz = (f(c / w) for c, w in zip(xyz, white, strict=True))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def contrast_on_white(hex_colour: str) -> float:
    r, g, b = linear_rgb(hex_colour)
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def test_template_is_registered_and_complete() -> None:
    template = pio.templates[theme.TEMPLATE_NAME]
    layout = template.layout
    assert tuple(layout.colorway) == theme.PALETTE
    assert theme.PALETTE[0] == theme.PRIMARY
    assert layout.font.family == theme.FONT_FAMILY
    assert layout.legend.orientation == "h" and layout.legend.y > 1  # above the plot
    assert layout.yaxis.showgrid and layout.yaxis.gridcolor == theme.GRID
    assert not layout.xaxis.showgrid
    assert layout.yaxis.hoverformat == theme.NUMBER_FORMAT
    assert layout.hoverlabel.bgcolor == theme.BACKGROUND
    assert layout.margin.l == theme.MARGIN["l"]
    assert [list(stop) for stop in layout.colorscale.sequential] == [
        list(stop) for stop in theme.SEQUENTIAL]
    assert template.data.indicator[0].delta.increasing.color == theme.INCREASING
    assert template.data.indicator[0].number.valueformat == theme.NUMBER_FORMAT
    assert pio.templates.default != theme.TEMPLATE_NAME  # registered, not imposed on others


def test_palette_is_distinct_and_readable() -> None:
    assert len(set(theme.PALETTE)) == len(theme.PALETTE) >= 6
    for colour in theme.PALETTE[:HIGH_CONTRAST_COLOURS]:
        assert contrast_on_white(colour) >= MIN_CONTRAST, colour
    assert contrast_on_white(theme.INCREASING) >= MIN_CONTRAST
    assert contrast_on_white(theme.DECREASING) >= MIN_CONTRAST


@pytest.mark.parametrize("vision", ["normal", *CVD])
def test_palette_survives_colour_blindness(vision: str) -> None:
    matrix = CVD.get(vision, NORMAL)
    seen = {c: lab(apply(matrix, linear_rgb(c))) for c in theme.PALETTE}
    for a, b in itertools.combinations(theme.PALETTE, 2):
        assert math.dist(seen[a], seen[b]) >= MIN_DELTA_E, (vision, a, b)
    up, down = (lab(apply(matrix, linear_rgb(c))) for c in (theme.INCREASING, theme.DECREASING))
    assert math.dist(up, down) >= MIN_DELTA_E, vision


def test_the_self_check_catches_a_bad_pair() -> None:
    red, green = "#D62728", "#2CA02C"  # the classic pair deuteranopes confuse
    seen = [lab(apply(CVD["deuteranopia"], linear_rgb(c))) for c in (red, green)]
    assert math.dist(*seen) < MIN_DELTA_E
    assert contrast_on_white("#F0E442") < MIN_CONTRAST  # Okabe-Ito yellow, left out


def test_sequential_scale_gets_darker_at_every_step() -> None:
    positions = [p for p, _ in theme.SEQUENTIAL]
    assert positions[0] == 0.0 and positions[-1] == 1.0 and positions == sorted(positions)
    lightness = [lab(linear_rgb(c))[0] for _, c in theme.SEQUENTIAL]
    assert all(a > b for a, b in itertools.pairwise(lightness))
