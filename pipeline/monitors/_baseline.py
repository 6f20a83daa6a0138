"""One bucket against its seasonal baseline: same hour-of-week (or weekday) over past weeks.

A *series* is a sequence of ``(bucket_start, value)`` pairs, ``bucket_start`` a timezone-aware
UTC datetime aligned to the resolution. It begins at its first bucket; a bucket missing after
that means 0 (counts from a ``GROUP BY`` have no row for an empty bucket, and "no rows at all"
is exactly the tracking-broke case). Before the first bucket nothing is known: those weeks are
missing history, not zeros, so a brand-new metric is "not enough history" rather than a spike.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import accumulate

from pipeline.monitors._policy import (
    DAY,
    DEFAULT_POLICY,
    MAD_TO_SIGMA,
    MEDIAN_VARIANCE_FACTOR,
    WEEK,
    Bars,
    DetectionPolicy,
    MonitorError,
    Resolution,
    Sensitivity,
)

Series = Sequence[tuple[datetime, float]]


class Direction(StrEnum):
    SPIKE = "spike"
    DROP = "drop"
    NORMAL = "normal"


class Reason(StrEnum):
    """Why a bucket got its direction; ``no_events`` and ``not_enough_history`` are special."""

    SPIKE = "spike"
    DROP = "drop"
    NO_EVENTS = "no_events"
    NORMAL = "normal"
    NOT_ENOUGH_HISTORY = "not_enough_history"


@dataclass(frozen=True)
class Baseline:
    """``samples`` are the same slot 1…n weeks back, each already multiplied by its ``levels``
    factor (how much the metric's level moved since then; 1.0 when unknown or not trusted)."""

    samples: tuple[float, ...]
    centre: float
    spread: float
    levels: tuple[float, ...] = ()


@dataclass(frozen=True)
class Assessment:
    """One bucket scored: ``direction`` against the firing bars, ``leaning`` against half of them.

    ``expected`` is the range a value may take without being a spike or a drop; ``score`` is the
    robust z, ``(value - centre) / spread``; ``relative_change`` is None when the centre is 0.
    ``extreme`` marks an anomaly so far out (or a no-events drop) that it needs no confirmation.
    """

    value: float
    direction: Direction
    reason: Reason
    leaning: Direction = Direction.NORMAL
    score: float = 0.0
    relative_change: float | None = None
    expected: tuple[float, float] | None = None
    baseline: Baseline | None = None
    extreme: bool = False


def utc_bucket(at: datetime, resolution: Resolution) -> datetime:
    """``at`` in UTC, checked to be aware and aligned to the resolution's bucket starts."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise MonitorError(
            "bucket times must be timezone-aware", at=at.isoformat(), hint="use datetime.UTC"
        )
    utc = at.astimezone(UTC)
    if utc != floor_bucket(utc, resolution):
        raise MonitorError(
            f"{utc.isoformat()} is not the start of a {resolution.value} bucket",
            at=utc.isoformat(),
            resolution=resolution.value,
            hint="truncate bucket starts with date_trunc in UTC",
        )
    return utc


def floor_bucket(at: datetime, resolution: Resolution) -> datetime:
    """The start of the bucket ``at`` (aware) falls in, in UTC."""
    utc = at.astimezone(UTC)
    if resolution is Resolution.HOUR:
        return utc.replace(minute=0, second=0, microsecond=0)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def index_series(
    series: Iterable[tuple[datetime, float]], resolution: Resolution
) -> dict[datetime, float]:
    """The series as ``{bucket_start: value}`` after validation; duplicates are an error."""
    out: dict[datetime, float] = {}
    for at, value in series:
        bucket = utc_bucket(at, resolution)
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise MonitorError(
                "series values must be finite and ≥ 0",
                at=bucket.isoformat(),
                value=repr(value),
                hint="a monitor watches counts or sums of non-negative amounts",
            )
        if bucket in out:
            raise MonitorError(
                "the series has the same bucket twice",
                at=bucket.isoformat(),
                hint="aggregate by bucket before handing the series over",
            )
        out[bucket] = number
    return out


def seasonal_baseline(
    history: Mapping[datetime, float] | Iterable[tuple[datetime, float]],
    at: datetime,
    resolution: Resolution,
    weeks: int | None = None,
    *,
    since: datetime | None = None,
    level_until: datetime | None = None,
    policy: DetectionPolicy = DEFAULT_POLICY,
) -> Baseline | None:
    """The baseline for bucket ``at``: the same slot 1…``weeks`` weeks earlier, scaled to level.

    Hour resolution compares with the same hour-of-week, day resolution with the same weekday
    (both are "exactly k weeks earlier"). Slots before ``since`` (default: the history's first
    bucket) are unknown and skipped; missing slots after it count as 0. Returns None when
    fewer than ``policy.min_weeks`` slots are known: not enough history, which never alerts.
    The level is measured over the days before ``level_until`` (default ``at``); a monitor
    that is firing passes its incident's start, so an incident never becomes its own baseline.
    """
    weeks = policy.weeks if weeks is None else weeks
    if weeks < 1:
        raise MonitorError("weeks must be at least 1", weeks=weeks)
    values = history if isinstance(history, Mapping) else index_series(history, resolution)
    bucket = utc_bucket(at, resolution)
    start = utc_bucket(since, resolution) if since is not None else min(values, default=None)
    if start is None or bucket < start:
        return None
    dense = History(values, start, bucket, resolution)
    level = dense.index(utc_bucket(level_until, resolution)) if level_until else dense.size
    return dense.baseline(dense.size, min(level, dense.size), weeks, policy)


class History:
    """A series laid out densely over ``[start, end)`` with prefix sums, so the baseline of each
    bucket costs a few index lookups however long the history (missing buckets are 0)."""

    def __init__(
        self, values: Mapping[datetime, float], start: datetime, end: datetime,
        resolution: Resolution,
    ) -> None:
        self.start = start
        self.width = resolution.step
        self.size = max(0, (end - start) // self.width)
        self.values = [0.0] * self.size
        for at, value in values.items():
            i = (at - start) // self.width
            if 0 <= i < self.size:
                self.values[i] = value
        self.prefix = list(accumulate(self.values, initial=0.0))
        self.per_week = WEEK // self.width
        self.per_day = DAY // self.width

    def index(self, at: datetime) -> int:
        return (at - self.start) // self.width

    def baseline(
        self, i: int, level_end: int, weeks: int, policy: DetectionPolicy
    ) -> Baseline | None:
        """The baseline of bucket ``i`` (which may be ``size``: the bucket just after)."""
        lags = [k * self.per_week for k in range(1, weeks + 1) if i - k * self.per_week >= 0]
        if len(lags) < min(policy.min_weeks, weeks):
            return None
        levels = tuple(self.level(level_end, lag, policy) if policy.trend else 1.0 for lag in lags)
        samples = tuple(self.values[i - lag] * f for lag, f in zip(lags, levels, strict=True))
        centre = statistics.median(samples)
        mad = statistics.median(abs(s - centre) for s in samples)
        spread = max(
            MAD_TO_SIGMA * mad,
            policy.spread_relative_floor * centre,
            math.sqrt(centre) if policy.poisson_floor else 0.0,
            policy.spread_absolute_floor,
        ) * math.sqrt(1 + MEDIAN_VARIANCE_FACTOR / len(samples))
        return Baseline(samples=samples, centre=centre, spread=spread, levels=levels)

    def level(self, end: int, lag: int, policy: DetectionPolicy) -> float:
        """How much the level moved over ``lag`` buckets: the ``policy.level_days`` days before
        ``end`` against the same days ``lag`` earlier, the day with the highest and the one
        with the lowest ratio dropped (an anomalous day, or a day-long incident straddling two
        24-hour windows), the rest pooled (a ratio of sums is steadier than a median of ratios).
        1.0 when a day is unknown or too sparse to trust."""
        day = self.per_day
        days = []
        for j in range(policy.level_days):
            hi = end - j * day
            if hi - day - lag < 0:
                return 1.0
            recent = self.prefix[hi] - self.prefix[hi - day]
            past = self.prefix[hi - lag] - self.prefix[hi - day - lag]
            if min(recent, past) < policy.level_min_count:
                return 1.0
            days.append((recent / past, recent, past))
        days.sort()
        kept = days[1:-1] if len(days) > 2 else days
        recent, past = sum(d[1] for d in kept), sum(d[2] for d in kept)
        # Shrink by twice the ratio's Poisson error (soft threshold, in logs): a level "change"
        # the counts cannot tell from noise would only add noise to the samples.
        change = math.log(recent / past)
        noise = policy.level_noise_sigmas * math.sqrt(1 / recent + 1 / past)
        return math.exp(math.copysign(max(0.0, abs(change) - noise), change))


def score(
    value: float,
    baseline: Baseline | None,
    sensitivity: Sensitivity = Sensitivity.MEDIUM,
    policy: DetectionPolicy = DEFAULT_POLICY,
) -> Assessment:
    """Assess one bucket's value against its baseline (None: not enough history, normal).

    A spike must clear both the z bar and the relative bar above the centre, a drop both below
    it; so the expected range is the looser of the two on each side, clipped at 0. A 0 where
    the centre is at least ``policy.no_events_min_centre`` is a drop whatever its z.
    """
    if baseline is None:
        return Assessment(value=value, direction=Direction.NORMAL, reason=Reason.NOT_ENOUGH_HISTORY)
    bars = policy.bars(sensitivity)
    low, high = _range(baseline, bars)
    centre = baseline.centre
    if value == 0 and centre >= policy.no_events_min_centre:
        direction, reason = Direction.DROP, Reason.NO_EVENTS
    else:
        direction = _side(value, low, high)
        reason = Reason(direction.value)
    leaning = direction
    if direction is Direction.NORMAL:
        half = policy.resolve_fraction
        z_side = _side(value, *_range(baseline, Bars(bars.z * half, 0.0)))
        relative_side = _side(value, *_range(baseline, Bars(0.0, bars.relative * half)))
        leaning = z_side if z_side is not Direction.NORMAL else relative_side
    z = (value - centre) / baseline.spread
    extreme = direction is not Direction.NORMAL and (
        reason is Reason.NO_EVENTS or abs(z) >= policy.extreme_factor * bars.z
    )
    return Assessment(
        value=value,
        direction=direction,
        reason=reason,
        leaning=leaning,
        extreme=extreme,
        score=z,
        relative_change=(value - centre) / centre if centre > 0 else None,
        expected=(low, high),
        baseline=baseline,
    )


def _side(value: float, low: float, high: float) -> Direction:
    if value > high:
        return Direction.SPIKE
    return Direction.DROP if value < low else Direction.NORMAL


def _range(baseline: Baseline, bars: Bars) -> tuple[float, float]:
    centre, spread = baseline.centre, baseline.spread
    low = min(centre - bars.z * spread, centre * (1 - bars.relative))
    high = max(centre + bars.z * spread, centre * (1 + bars.relative))
    return max(low, 0.0), high
