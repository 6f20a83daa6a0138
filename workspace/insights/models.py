"""The typed insights the analyst (or the model) picks from; our code compiles their SQL.

Users are identified by ``user_id``: events without one count as events, never as users.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from workspace.insights._fields import (
    EVENT_NAME,
    Breakdown,
    DateRange,
    Filter,
    _Model,
    check_key,
)

Interval = Literal["hour", "day", "week", "month"]
EventName = Annotated[str, EVENT_NAME]


class Trend(_Model):
    """A measure per time interval: events, unique users, or the sum/average of a numeric
    property, optionally split by a breakdown (top N values plus "other").
    Result columns: period, [breakdown], value."""

    kind: Literal["trend"] = "trend"
    event: EventName | None = Field(None, description="event_type to measure; null = all")
    measure: Literal["events", "users", "sum", "avg"] = "events"
    property: str | None = Field(None, description="properties key to sum/average, e.g. revenue")
    interval: Interval = "day"
    date_range: DateRange
    filters: list[Filter] = Field(default_factory=list, max_length=20)
    breakdown: Breakdown | None = None

    @field_validator("property")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return None if value is None else check_key(value)

    @model_validator(mode="after")
    def _property_for_sum(self) -> Trend:
        if self.measure in ("sum", "avg") and self.property is None:
            raise ValueError(f"measure {self.measure} needs property (a numeric properties key)")
        if self.measure in ("events", "users") and self.property is not None:
            raise ValueError(f"measure {self.measure} takes no property")
        return self


class FunnelStep(_Model):
    event: EventName = Field(description="event_type of this step")
    filters: list[Filter] = Field(default_factory=list, max_length=10)


class Funnel(_Model):
    """Ordered steps. A user converts at step k after doing steps 1..k in order, each after
    the previous one, all within the window from their first step-1 event in the range.
    Result columns: [breakdown], step, event, users, conversion_from_first,
    conversion_from_previous, median_seconds_to_convert (from the previous step)."""

    kind: Literal["funnel"] = "funnel"
    steps: list[FunnelStep] = Field(min_length=2, max_length=10)
    window: int = Field(14, ge=1, le=10_000, description="conversion window length")
    window_unit: Literal["minute", "hour", "day", "week"] = "day"
    date_range: DateRange
    filters: list[Filter] = Field(default_factory=list, max_length=20,
                                  description="apply to every step")
    breakdown: Breakdown | None = Field(None, description="value at the user's first step")


class Retention(_Model):
    """Cohorts by the period of each user's first start_event in the range; for period n,
    the share of the cohort that did return_event in the n-th period after (calendar periods,
    period 0 = the cohort's own). Result columns: cohort, period, cohort_size, users,
    retention."""

    kind: Literal["retention"] = "retention"
    start_event: EventName | None = Field(None, description="null = any event")
    return_event: EventName | None = Field(None, description="null = any event")
    period: Literal["day", "week", "month"] = "week"
    periods: int = Field(8, ge=1, le=52, description="periods after the cohort's to show")
    date_range: DateRange
    filters: list[Filter] = Field(default_factory=list, max_length=20)


class TopEvents(_Model):
    """The most frequent event types. Result columns: event_type, events, users."""

    kind: Literal["top_events"] = "top_events"
    limit: int = Field(10, ge=1, le=100)
    date_range: DateRange
    filters: list[Filter] = Field(default_factory=list, max_length=20)


class Stickiness(_Model):
    """How many users were active on exactly n distinct days of the range.
    Result columns: days_active, users, share."""

    kind: Literal["stickiness"] = "stickiness"
    event: EventName | None = Field(None, description="event_type that counts; null = any")
    date_range: DateRange
    filters: list[Filter] = Field(default_factory=list, max_length=20)


Insight = Annotated[Trend | Funnel | Retention | TopEvents | Stickiness,
                    Field(discriminator="kind")]
INSIGHT_KINDS = ("trend", "funnel", "retention", "top_events", "stickiness")
