"""Resolutions, sensitivities and the detection policy: every threshold and floor, named once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from pipeline.errors import PipelineError


class MonitorError(PipelineError):
    """A series or a time handed to the detector is malformed (naive, unaligned, not finite)."""

    code = "bad_monitor_input"


class Resolution(StrEnum):
    HOUR = "hour"
    DAY = "day"

    @property
    def step(self) -> timedelta:
        return HOUR if self is Resolution.HOUR else DAY


class Sensitivity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)

BASELINE_WEEKS = 4
MIN_BASELINE_WEEKS = 2
# 1.4826 × MAD estimates σ for normal data, so a robust z reads like an ordinary one.
MAD_TO_SIGMA = 1.4826
# Weekly seasonal samples vary by more than their MAD of 4 values shows; 10 % of the centre
# keeps a run of four near-identical weeks from turning a 12 % wobble into a "4σ" event.
SPREAD_RELATIVE_FLOOR = 0.10
# Counts are at least Poisson-noisy: σ ≥ √centre (5 events against a centre of 3 is z < 1);
# the absolute floor covers centres near 0, where √centre vanishes and one stray event would
# be "infinitely" unusual.
SPREAD_ABSOLUTE_FLOOR = 2.0
# A new value differs from a centre *estimated* from n weeks by σ·√(1 + π/(2n)) (the median's
# variance is π/2·σ²/n): two weeks of history widen the range by 34 %, four by 18 %.
MEDIAN_VARIANCE_FACTOR = math.pi / 2
# A bucket with no events at all where the baseline expects at least this many is a drop
# even when the z bar is not met: tracking broke, the strongest signal a monitor can give.
NO_EVENTS_MIN_CENTRE = 10.0
# One incident is one alert: it resolves only after this many consecutive buckets that are
# back to normal: within half the z bar *and* half the relative bar (hysteresis). Either half
# bar alone keeps an incident open, so the quiet night hours of a 60 % level shift, whose z
# is weak, do not resolve it and let it fire again next morning.
RESOLVE_AFTER_BUCKETS = 2
RESOLVE_FRACTION = 0.5
# An hourly anomaly fires once a second bucket in a row confirms it: an hour is a small sample
# of a day, and real series have lumps (a batch upload, a crawler, a big customer's signup)
# that cross a bar for one hour and are gone. A day already averages 24 hours, so daily
# monitors fire at once rather than a day late.
CONFIRM_HOURLY_BUCKETS = 2
# ... unless the bucket is extreme: this many times past the z bar (9σ at medium) is never
# Poisson noise, and an outage or a burst of errors must not wait an hour to be told.
EXTREME_FACTOR = 2.0
# Trend: each past week's same-slot value is scaled by how much the level moved since: the
# last LEVEL_DAYS days against the same days k weeks earlier, the highest and lowest day's
# ratio dropped and the rest pooled. Whole days cancel the diurnal rhythm, same weekdays the
# weekly one; trimming survives one anomalous day (or a day-long incident straddling two
# 24-hour windows), and the estimate follows a changing trend within about two days.
LEVEL_DAYS = 5
# A day's ratio is trusted only when both days hold this many events: the Poisson error of
# a ratio of two counts of 200 is 10 %. Below it (sparse metrics) the samples stay unscaled.
LEVEL_MIN_COUNT = 200.0
# The level ratio is shrunk towards 1 by this many of its Poisson standard errors.
LEVEL_NOISE_SIGMAS = 2.0


@dataclass(frozen=True)
class Bars:
    """What a bucket must exceed to be anomalous: robust z *and* relative change from centre."""

    z: float
    relative: float


# low 6σ / ±75 %, medium 4.5σ / ±50 %, high 3.5σ / ±30 %. The relative bar keeps tiny
# absolute wiggles on a steady, low-noise metric from firing however large their z.
LOW_BARS = Bars(z=6.0, relative=0.75)
MEDIUM_BARS = Bars(z=4.5, relative=0.50)
HIGH_BARS = Bars(z=3.5, relative=0.30)


@dataclass(frozen=True)
class DetectionPolicy:
    """Every knob of the detector; the defaults above are documented where they are defined.

    Values are assumed to be counts (or count-like sums) per bucket: the Poisson floor on the
    spread is what lets a low-volume series wobble between 0 and 5 without alerting.
    """

    weeks: int = BASELINE_WEEKS
    min_weeks: int = MIN_BASELINE_WEEKS
    spread_relative_floor: float = SPREAD_RELATIVE_FLOOR
    spread_absolute_floor: float = SPREAD_ABSOLUTE_FLOOR
    poisson_floor: bool = True
    no_events_min_centre: float = NO_EVENTS_MIN_CENTRE
    resolve_after: int = RESOLVE_AFTER_BUCKETS
    resolve_fraction: float = RESOLVE_FRACTION
    confirm_hourly: int = CONFIRM_HOURLY_BUCKETS
    extreme_factor: float = EXTREME_FACTOR
    trend: bool = True
    level_days: int = LEVEL_DAYS
    level_min_count: float = LEVEL_MIN_COUNT
    level_noise_sigmas: float = LEVEL_NOISE_SIGMAS
    low: Bars = LOW_BARS
    medium: Bars = MEDIUM_BARS
    high: Bars = HIGH_BARS

    def bars(self, sensitivity: Sensitivity) -> Bars:
        if sensitivity is Sensitivity.LOW:
            return self.low
        return self.medium if sensitivity is Sensitivity.MEDIUM else self.high

    def confirm(self, resolution: Resolution) -> int:
        """Anomalous buckets in a row needed to fire (an extreme one fires alone)."""
        return self.confirm_hourly if resolution is Resolution.HOUR else 1

    def __post_init__(self) -> None:
        if not 1 <= self.min_weeks <= self.weeks:
            raise MonitorError(
                "min_weeks must be between 1 and weeks",
                weeks=self.weeks,
                min_weeks=self.min_weeks,
                hint="the default is weeks=4, min_weeks=2",
            )
        if self.resolve_after < 1 or not 0 < self.resolve_fraction <= 1:
            raise MonitorError(
                "resolve_after must be ≥ 1 and resolve_fraction in (0, 1]",
                resolve_after=self.resolve_after,
                resolve_fraction=self.resolve_fraction,
            )
        if self.confirm_hourly < 1 or self.extreme_factor < 1 or self.level_days < 1:
            raise MonitorError(
                "confirm_hourly and level_days must be ≥ 1, extreme_factor ≥ 1",
                confirm_hourly=self.confirm_hourly,
                extreme_factor=self.extreme_factor,
                level_days=self.level_days,
            )


DEFAULT_POLICY = DetectionPolicy()
