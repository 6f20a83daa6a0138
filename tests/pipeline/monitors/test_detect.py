"""Anomaly detection on hand-made series: known spikes, drops, level shifts and seasonality."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeline.monitors as monitors
from pipeline.monitors import (
    Alert,
    AlertKind,
    Baseline,
    DetectionPolicy,
    Direction,
    MonitorError,
    MonitorState,
    Reason,
    Resolution,
    Sensitivity,
    Status,
    evaluate,
    score,
    seasonal_baseline,
    step,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)
START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
WEEKS = 8
END = START + WEEKS * WEEK
LAST_4_WEEKS = END - 4 * WEEK

Point = tuple[datetime, float]
SMALL_SAMPLE_4 = math.sqrt(1 + math.pi / 8)


def hourly_mean(at: datetime) -> float:
    """Diurnal curve (40/h at 08:00 UTC, 300/h at 20:00) × 0.6 on weekends."""
    diurnal = 40 + 260 * math.pow(0.5 - 0.5 * math.cos(2 * math.pi * (at.hour - 8) / 24), 1.5)
    return diurnal * (0.6 if at.weekday() >= 5 else 1.0)


def hourly_series(
    seed: int = 7, shape: Callable[[datetime, float], float] = lambda _at, mean: mean
) -> list[Point]:
    """8 weeks of hourly counts: ``shape`` rewrites the mean, then Poisson-like + 5 % noise."""
    rng = random.Random(seed)
    out: list[Point] = []
    at = START
    while at < END:
        mean = shape(at, hourly_mean(at))
        sd = math.sqrt(mean + (0.05 * mean) ** 2)
        out.append((at, float(max(0, round(rng.gauss(mean, sd))))))
        at += HOUR
    return out


def run(
    series: list[Point],
    sensitivity: Sensitivity = Sensitivity.MEDIUM,
    resolution: Resolution = Resolution.HOUR,
    now: datetime = END,
) -> monitors.Evaluation:
    return evaluate(series, resolution, sensitivity, MonitorState(), now)


def kinds(alerts: tuple[Alert, ...]) -> list[tuple[AlertKind, Direction]]:
    return [(a.kind, a.direction) for a in alerts]


def test_baseline_uses_the_same_hour_of_week_over_the_last_weeks() -> None:
    at = START + 5 * WEEK + 2 * DAY + 14 * HOUR  # a Wednesday, 14:00
    history = {at - k * WEEK: float(100 + k) for k in range(1, 6)}
    history[at - 1 * WEEK + HOUR] = 10_000.0  # the neighbouring hour must not leak in
    baseline = seasonal_baseline(history, at, Resolution.HOUR, since=START)
    assert baseline is not None
    assert baseline.samples == (101.0, 102.0, 103.0, 104.0)
    assert baseline.centre == 102.5
    # MAD = 1 → 1.48 is below the 10 % floor (10.25) and √centre (10.1); four weeks of
    # history widen it by √(1 + π/8) for the uncertainty of the centre itself
    assert baseline.spread == pytest.approx(10.25 * SMALL_SAMPLE_4)


def test_baseline_day_resolution_uses_the_same_weekday() -> None:
    at = START + 4 * WEEK + 2 * DAY
    history = [(at - k * WEEK, 500.0) for k in range(1, 5)] + [(at - DAY, 9_000.0)]
    baseline = seasonal_baseline(history, at, Resolution.DAY)
    assert baseline is not None
    assert baseline.samples == (500.0, 500.0, 500.0, 500.0)


def test_missing_buckets_are_zero_but_weeks_before_the_series_are_unknown() -> None:
    at = START + 3 * WEEK
    history = {START: 50.0, at - WEEK: 50.0}  # at - 2 weeks is missing inside the series
    baseline = seasonal_baseline(history, at, Resolution.HOUR)
    assert baseline is not None
    assert baseline.samples == (50.0, 0.0, 50.0)  # week 4 before `at` predates the series


def test_not_enough_history_is_none_and_never_alerts() -> None:
    at = START + WEEK
    assert seasonal_baseline({START: 100.0}, at, Resolution.HOUR) is None
    assessment = score(1_000_000.0, None)
    assert assessment.direction is Direction.NORMAL
    assert assessment.reason is Reason.NOT_ENOUGH_HISTORY


def test_spread_floors_keep_small_counts_quiet() -> None:
    steady = Baseline(samples=(3.0, 3.0, 3.0, 3.0), centre=3.0, spread=0.0)
    baseline = seasonal_baseline({START + k * WEEK: 3.0 for k in range(4)}, START + 4 * WEEK,
                                 Resolution.HOUR)  # fmt: skip
    assert baseline is not None
    # MAD 0, 10 % = 0.3, √3 = 1.7: the absolute floor wins
    assert baseline.spread == pytest.approx(2.0 * SMALL_SAMPLE_4)
    for sensitivity in Sensitivity:
        assert score(5.0, baseline, sensitivity).direction is Direction.NORMAL
        assert score(0.0, baseline, sensitivity).direction is Direction.NORMAL
    assert score(50.0, baseline).direction is Direction.SPIKE
    assert steady.spread == 0.0  # a hand-built baseline is taken as given


def test_score_needs_both_the_z_and_the_relative_bar() -> None:
    # a very steady metric: z is huge for +20 %, but the relative bar (50 %) is not met
    tight = Baseline(samples=(10_000.0,) * 4, centre=10_000.0, spread=1_000.0)
    assert score(12_000.0, tight).direction is Direction.NORMAL
    assert score(15_001.0, tight).direction is Direction.SPIKE
    assert score(4_999.0, tight).direction is Direction.DROP
    assessment = score(4_999.0, tight)
    assert assessment.expected == (5_000.0, 15_000.0)
    assert assessment.relative_change == pytest.approx(-0.5001)
    assert assessment.score == pytest.approx(-5.001)


@pytest.mark.parametrize(
    ("sensitivity", "fires_at"), [("low", 17_500.0), ("medium", 15_000.0), ("high", 13_000.0)]
)
def test_sensitivity_moves_the_bars(sensitivity: str, fires_at: float) -> None:
    baseline = Baseline(samples=(10_000.0,) * 4, centre=10_000.0, spread=100.0)
    level = Sensitivity(sensitivity)
    assert score(fires_at - 1, baseline, level).direction is Direction.NORMAL
    assert score(fires_at + 1, baseline, level).direction is Direction.SPIKE


def test_zero_where_events_are_expected_is_no_events() -> None:
    # centre 12: z of 0 is only 12/3.5 ≈ 3.5 < 4.5, but a zero there means tracking broke
    baseline = Baseline(samples=(12.0,) * 4, centre=12.0, spread=math.sqrt(12))
    assessment = score(0.0, baseline)
    assert (assessment.direction, assessment.reason) == (Direction.DROP, Reason.NO_EVENTS)
    quiet = Baseline(samples=(4.0,) * 4, centre=4.0, spread=2.0)
    assert score(0.0, quiet).direction is Direction.NORMAL


# --- the state machine --------------------------------------------------------------------


def test_step_fires_once_holds_and_resolves_after_two_normal_buckets() -> None:
    baseline = Baseline(samples=(100.0,) * 4, centre=100.0, spread=10.0)
    spike, normal = score(900.0, baseline), score(100.0, baseline)
    state, emitted = MonitorState(), []
    for i, assessment in enumerate([normal, spike, spike, normal, spike, normal, normal, normal]):
        state, alert = step(state, assessment, START + i * HOUR)
        emitted.append(alert.kind if alert else None)
    assert emitted == [None, "fired", None, None, None, None, "resolved", None]
    assert state == MonitorState()


def test_step_keeps_firing_while_the_incident_lingers_below_the_firing_bars() -> None:
    baseline = Baseline(samples=(100.0,) * 4, centre=100.0, spread=10.0)
    state, fired = step(MonitorState(), score(10.0, baseline), START)
    assert fired is not None and fired.direction is Direction.DROP
    lingering = score(65.0, baseline)  # 35 % down: not a drop, but past half the bars
    assert (lingering.direction, lingering.leaning) == (Direction.NORMAL, Direction.DROP)
    for i in range(1, 10):
        state, alert = step(state, lingering, START + i * HOUR)
        assert alert is None
    assert state.status is Status.FIRING and state.since == START


# --- evaluate on hand-made series ---------------------------------------------------------


@pytest.mark.parametrize("sensitivity", [Sensitivity.LOW, Sensitivity.MEDIUM])
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_normal_diurnal_and_weekly_rhythm_never_alerts(sensitivity: Sensitivity, seed: int) -> None:
    result = run(hourly_series(seed), sensitivity)
    assert result.alerts == ()
    scored = [a for at, a in result.assessments if at >= LAST_4_WEEKS]
    assert len(scored) == 4 * 7 * 24  # every hour of the last four weeks was checked
    assert all(a.reason is Reason.NORMAL for a in scored)


def test_high_sensitivity_trades_rare_noise_alerts_for_reach() -> None:
    # 3.5σ on Poisson-noisy counts: about one short alert per 15 weeks of noise (measured
    # over 20 seeds); each must still be one incident that resolves within hours.
    fired = 0
    for seed in (1, 2, 3, 4, 5):
        alerts = run(hourly_series(seed), Sensitivity.HIGH).alerts
        fired += sum(a.kind is AlertKind.FIRED for a in alerts)
        for a in alerts[1::2]:
            assert a.kind is AlertKind.RESOLVED and a.at - a.since <= 4 * HOUR
    assert fired <= 5  # 5 series × 6 evaluated weeks


def test_three_hour_spike_is_one_alert_and_one_resolution() -> None:
    spike = END - 9 * DAY + 14 * HOUR

    def shape(at: datetime, mean: float) -> float:
        return mean * 6 if spike <= at < spike + 3 * HOUR else mean

    alerts = run(hourly_series(11, shape)).alerts
    assert kinds(alerts) == [
        (AlertKind.FIRED, Direction.SPIKE),
        (AlertKind.RESOLVED, Direction.SPIKE),
    ]
    fired, resolved = alerts
    assert fired.at == spike and fired.reason is Reason.SPIKE
    assert fired.expected is not None and fired.value > fired.expected[1]
    assert resolved.at == spike + 4 * HOUR and resolved.since == spike


def test_day_long_85_percent_drop_is_one_alert_and_one_resolution() -> None:
    day = END - 5 * DAY

    def shape(at: datetime, mean: float) -> float:
        return mean * 0.15 if day <= at < day + DAY else mean

    alerts = run(hourly_series(12, shape)).alerts
    assert kinds(alerts) == [
        (AlertKind.FIRED, Direction.DROP),
        (AlertKind.RESOLVED, Direction.DROP),
    ]
    fired, resolved = alerts
    assert day <= fired.at < day + 12 * HOUR
    assert resolved.at == day + DAY + HOUR  # the second normal hour after the day


def test_permanent_level_shift_fires_once_and_stays_firing() -> None:
    shift = END - 2 * WEEK + 3 * DAY + 10 * HOUR

    def shape(at: datetime, mean: float) -> float:
        return mean * 0.4 if at >= shift else mean

    result = run(hourly_series(13, shape))
    assert kinds(result.alerts) == [(AlertKind.FIRED, Direction.DROP)]
    assert shift <= result.alerts[0].at < shift + 3 * HOUR
    assert result.state.status is Status.FIRING and result.state.direction is Direction.DROP


def test_zero_events_for_three_busy_hours_fires_no_events() -> None:
    outage = END - 3 * DAY + 17 * HOUR
    series = [(at, 0.0 if outage <= at < outage + 3 * HOUR else v) for at, v in hourly_series(14)]
    alerts = run(series).alerts
    assert kinds(alerts) == [
        (AlertKind.FIRED, Direction.DROP),
        (AlertKind.RESOLVED, Direction.DROP),
    ]
    assert alerts[0].at == outage and alerts[0].reason is Reason.NO_EVENTS


def test_a_series_that_stops_is_missing_buckets_and_fires_no_events() -> None:
    stop = END - 6 * HOUR  # 18:00, busy: tracking broke, the query returns no rows at all
    series = [(at, v) for at, v in hourly_series(15) if at < stop]
    result = run(series)
    assert [(a.kind, a.reason, a.at) for a in result.alerts] == [
        (AlertKind.FIRED, Reason.NO_EVENTS, stop)
    ]
    assert result.state.status is Status.FIRING


def test_low_volume_series_does_not_alert_on_noise() -> None:
    rng = random.Random(16)
    series = [(START + i * HOUR, float(rng.randint(0, 5))) for i in range(WEEKS * 7 * 24)]
    for sensitivity in Sensitivity:
        assert run(series, sensitivity).alerts == ()
    # but 40 errors in an hour that usually has 0–5 is a spike, and it resolves
    spike = END - 2 * DAY
    series = [(at, 40.0 if at == spike else v) for at, v in series]
    alerts = run(series).alerts
    assert kinds(alerts) == [
        (AlertKind.FIRED, Direction.SPIKE),
        (AlertKind.RESOLVED, Direction.SPIKE),
    ]
    assert alerts[0].at == spike and alerts[1].at - spike <= 12 * HOUR


def test_a_large_relative_drop_with_a_weak_z_keeps_the_incident_open() -> None:
    # a quiet night hour during a 60 % level shift: z is weak, the relative change is not
    noisy = Baseline(samples=(20.0, 30.0, 40.0, 50.0), centre=35.0, spread=15.0)
    night = score(14.0, noisy)
    assert night.direction is Direction.NORMAL and abs(night.score) < 2.25
    assert night.leaning is Direction.DROP
    firing = MonitorState(status=Status.FIRING, direction=Direction.DROP, reason=Reason.DROP,
                          since=START)  # fmt: skip
    for i in range(1, 6):
        firing, alert = step(firing, night, START + i * HOUR)
        assert alert is None and firing.status is Status.FIRING


def daily_series(seed: int, weeks: int, shape: Callable[[datetime, float], float]) -> list[Point]:
    rng = random.Random(seed)
    out: list[Point] = []
    for i in range(weeks * 7):
        at = START + i * DAY
        mean = shape(at, 300.0 if at.weekday() >= 5 else 1_000.0)
        out.append((at, float(round(rng.gauss(mean, math.sqrt(mean) + 0.05 * mean)))))
    return out


def test_day_resolution_follows_the_weekly_pattern() -> None:
    weeks = 10
    end = START + weeks * WEEK
    quiet = daily_series(17, weeks, lambda _at, mean: mean)
    result = run(quiet, resolution=Resolution.DAY, now=end)
    assert result.alerts == ()  # weekends at 30 % of weekdays are the rhythm, not a drop
    assert sum(a.reason is Reason.NORMAL for _, a in result.assessments) >= (weeks - 2) * 7

    wednesday = end - WEEK + 2 * DAY  # a weekday at weekend level is a drop

    def shape(at: datetime, mean: float) -> float:
        return 300.0 if at == wednesday else mean

    alerts = run(daily_series(17, weeks, shape), resolution=Resolution.DAY, now=end).alerts
    assert [(a.kind, a.direction, a.at) for a in alerts] == [
        (AlertKind.FIRED, Direction.DROP, wednesday),
        (AlertKind.RESOLVED, Direction.DROP, wednesday + 2 * DAY),
    ]


def test_not_enough_history_never_alerts() -> None:
    short = [(at, v) for at, v in hourly_series(18) if at < START + 2 * WEEK - DAY]
    short[-1] = (short[-1][0], 100_000.0)
    result = run(short, now=START + 2 * WEEK - DAY)
    assert result.alerts == ()
    assert all(a.reason is Reason.NOT_ENOUGH_HISTORY for _, a in result.assessments)
    # from two weeks of history on, the same spike fires
    longer = [(at, v) for at, v in hourly_series(18) if at < START + 2 * WEEK + HOUR]
    longer[-1] = (longer[-1][0], 100_000.0)
    assert len(run(longer, now=START + 2 * WEEK + HOUR).alerts) == 1


# --- evaluate's bookkeeping ---------------------------------------------------------------


def test_evaluate_is_monotonic_and_chunking_does_not_change_the_result() -> None:
    spike = END - 9 * DAY + 14 * HOUR
    series = hourly_series(19, lambda at, m: m * 6 if spike <= at < spike + 3 * HOUR else m)
    whole = run(series)
    state, alerts = MonitorState(), list[Alert]()
    for now in (START + 3 * WEEK, spike + 90 * timedelta(minutes=1), spike + 5 * HOUR, END):
        part = evaluate(series, Resolution.HOUR, Sensitivity.MEDIUM, state, now)
        state, alerts = part.state, alerts + list(part.alerts)
    assert (state, tuple(alerts)) == (whole.state, whole.alerts)
    assert state.evaluated_until == END
    again = evaluate(
        series, Resolution.HOUR, Sensitivity.MEDIUM, state, END + 59 * timedelta(minutes=1)
    )
    assert (again.alerts, again.assessments, again.state) == ((), (), state)


def test_a_monitor_created_now_does_not_alert_on_the_past() -> None:
    spike = END - 9 * DAY
    series = hourly_series(20, lambda at, m: m * 6 if spike <= at < spike + 3 * HOUR else m)
    created = MonitorState(evaluated_until=END - DAY)
    result = evaluate(series, Resolution.HOUR, Sensitivity.MEDIUM, created, END)
    assert result.alerts == () and len(result.assessments) == 24


@pytest.mark.parametrize(
    "series",
    [
        [(datetime(2024, 1, 1), 1.0)],  # naive
        [(START + timedelta(minutes=30), 1.0)],  # not a bucket start
        [(START, 1.0), (START, 2.0)],  # duplicate
        [(START, float("nan"))],
        [(START, -1.0)],
    ],
)
def test_malformed_series_is_a_monitor_error(series: list[Point]) -> None:
    with pytest.raises(MonitorError) as caught:
        run(series)
    assert caught.value.code == "bad_monitor_input" and caught.value.hint


def test_policy_rejects_impossible_settings() -> None:
    with pytest.raises(MonitorError):
        DetectionPolicy(weeks=4, min_weeks=5)
    with pytest.raises(MonitorError):
        DetectionPolicy(resolve_after=0)


# --- properties ---------------------------------------------------------------------------

values = st.one_of(st.none(), st.integers(0, 2_000).map(float))


def check_alerts_alternate(alerts: tuple[Alert, ...], state: MonitorState) -> None:
    expected = [AlertKind.FIRED, AlertKind.RESOLVED] * len(alerts)
    assert [a.kind for a in alerts] == expected[: len(alerts)]
    for fired, resolved in zip(alerts[::2], alerts[1::2], strict=False):
        assert resolved.since == fired.at and resolved.direction is fired.direction
    firing = len(alerts) % 2 == 1
    assert (state.status is Status.FIRING) == firing


@settings(max_examples=150, deadline=None)
@given(
    days=st.lists(values, max_size=120),
    sensitivity=st.sampled_from(list(Sensitivity)),
    cut=st.integers(0, 130),
    tail=st.integers(0, 10),
)
def test_daily_evaluate_never_raises_and_alerts_alternate(
    days: list[float | None], sensitivity: Sensitivity, cut: int, tail: int
) -> None:
    series = [(START + i * DAY, v) for i, v in enumerate(days) if v is not None]
    now = START + (len(days) + tail) * DAY
    whole = evaluate(series, Resolution.DAY, sensitivity, MonitorState(), now)
    check_alerts_alternate(whole.alerts, whole.state)
    cut = min(cut, len(days) + tail)
    first = evaluate(series, Resolution.DAY, sensitivity, MonitorState(), START + cut * DAY)
    second = evaluate(series, Resolution.DAY, sensitivity, first.state, now)
    assert first.alerts + second.alerts == whole.alerts and second.state == whole.state


@settings(max_examples=40, deadline=None)
@given(
    week=st.lists(st.integers(0, 500), min_size=168, max_size=168),
    shocks=st.dictionaries(st.integers(0, 4 * 168 - 1), values, max_size=40),
    sensitivity=st.sampled_from(list(Sensitivity)),
)
def test_hourly_evaluate_never_raises_and_alerts_alternate(
    week: list[int], shocks: dict[int, float | None], sensitivity: Sensitivity
) -> None:
    hours = [float(week[i % 168]) for i in range(4 * 168)]
    series = [
        (START + i * HOUR, shocks.get(i, v))
        for i, v in enumerate(hours)
        if shocks.get(i, v) is not None
    ]
    result = evaluate(
        series,  # type: ignore[arg-type]  # None entries were filtered out above
        Resolution.HOUR,
        sensitivity,
        MonitorState(),
        START + 4 * WEEK + 5 * HOUR,
    )
    check_alerts_alternate(result.alerts, result.state)
