"""Trend, level shifts, strong seasonality and lumpy hours on hand-made hourly series."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.monitors import (
    DEFAULT_POLICY,
    AlertKind,
    DetectionPolicy,
    Direction,
    MonitorState,
    Resolution,
    Sensitivity,
    Status,
    evaluate,
    seasonal_baseline,
)

H = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)
START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
END = START + 8 * WEEK
Shape = Callable[[datetime], float]


def diurnal(at: datetime) -> float:
    return 60 + 440 * math.pow(0.5 - 0.5 * math.cos(2 * math.pi * (at.hour - 8) / 24), 1.5)


def weekly_growth(rate: float) -> Shape:
    return lambda at: (1 + rate) ** ((at - START) / WEEK)


def series(seed: int, *shapes: Shape) -> list[tuple[datetime, float]]:
    """Hourly Poisson-like counts with 5 % extra noise; the mean is the product of shapes."""
    rng = random.Random(seed)
    out, at = [], START
    while at < END:
        mean = diurnal(at) * math.prod(shape(at) for shape in shapes)
        sd = math.sqrt(mean + (0.05 * mean) ** 2)
        out.append((at, float(max(0, round(rng.gauss(mean, sd))))))
        at += H
    return out


def fired(points: list[tuple[datetime, float]], policy: DetectionPolicy = DEFAULT_POLICY,
          sensitivity: Sensitivity = Sensitivity.MEDIUM) -> list[tuple[datetime, Direction]]:
    result = evaluate(points, Resolution.HOUR, sensitivity, MonitorState(), END, policy)
    return [(a.at, a.direction) for a in result.alerts if a.kind is AlertKind.FIRED]


@pytest.mark.parametrize("rate", [0.25, -0.2])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_steady_trend_is_not_an_anomaly(rate: float, seed: int) -> None:
    points = series(seed, weekly_growth(rate))
    assert fired(points) == []
    if rate > 0:  # unscaled, +25 % a week puts today 75 % above the median of four weeks
        assert fired(points, DetectionPolicy(trend=False))


def test_a_spike_on_a_trend_is_still_found() -> None:
    spike = END - 9 * DAY + 15 * H
    points = [(at, v * 4 if spike <= at < spike + 2 * H else v)
              for at, v in series(4, weekly_growth(0.25))]
    assert fired(points) == [(spike, Direction.SPIKE)]


def test_strong_weekly_seasonality_with_growth_stays_quiet() -> None:
    weekend = lambda at: 0.2 if at.weekday() >= 5 else 1.0  # noqa: E731
    assert fired(series(5, weekend, weekly_growth(0.15))) == []
    assert fired(series(6, weekend), sensitivity=Sensitivity.LOW) == []


def test_a_level_shift_up_is_one_incident_that_stays_open() -> None:
    shift = END - 10 * DAY + 9 * H
    points = series(7, lambda at: 2.0 if at >= shift else 1.0)
    result = evaluate(points, Resolution.HOUR, Sensitivity.MEDIUM, MonitorState(), END)
    assert [(a.kind, a.direction) for a in result.alerts] == [(AlertKind.FIRED, Direction.SPIKE)]
    assert shift <= result.alerts[0].at < shift + 3 * H
    # the level is frozen at the incident's start: it cannot explain itself away
    assert result.state.status is Status.FIRING


def test_one_lumpy_hour_needs_a_second_to_fire_unless_extreme() -> None:
    lump = END - 4 * DAY + 13 * H
    base = series(8)
    lumpy = [(at, v * 1.9 if at == lump else v) for at, v in base]
    assert fired(lumpy) == []  # +90 % for one hour, then back: a lump, not an incident
    assert fired(lumpy, DetectionPolicy(confirm_hourly=1)) == [(lump, Direction.SPIKE)]
    extreme = [(at, v * 8 if at == lump else v) for at, v in base]
    assert fired(extreme) == [(lump, Direction.SPIKE)]  # far past the bar: at once
    two = [(at, v * 1.9 if lump <= at < lump + 2 * H else v) for at, v in base]
    assert fired(two) == [(lump, Direction.SPIKE)]  # the alert names the first hour


def test_the_baseline_is_scaled_to_the_level_and_reports_its_factors() -> None:
    at = START + 5 * WEEK + 6 * DAY + 14 * H
    history = {START + k * H: 1000.0 * (2.0 if START + k * H >= START + 4 * WEEK else 1.0)
               for k in range(int((at - START) / H))}
    baseline = seasonal_baseline(history, at, Resolution.HOUR)
    assert baseline is not None
    # one week back the level was already 2x (factor ≈ 1), two to four weeks back half today's
    assert baseline.levels[0] == pytest.approx(1.0)
    assert baseline.levels[1:] == pytest.approx((2.0, 2.0, 2.0), rel=0.01)
    assert baseline.samples == pytest.approx((2000.0,) * 4, rel=0.01)
    frozen = seasonal_baseline(history, at, Resolution.HOUR, level_until=START + 4 * WEEK)
    assert frozen is not None and frozen.levels == pytest.approx((1.0,) * 4, rel=0.01)
