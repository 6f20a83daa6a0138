"""What a monitor watches, as stored JSON: :class:`MonitorSpec` and :func:`parse_monitor`.

A spec is data (DESIGN.md decision 8): the metric (events, distinct users, or the sum of a
numeric property) of one app, optionally narrowed to one event type and one property value,
at hour or day resolution; or ``no_events``, the app's tracking going silent. The store keeps
the JSON as given; only this module reads it, and every error names the field, like a rule's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pipeline.monitors._policy import MonitorError, Resolution, Sensitivity
from warehouse.errors import LayoutError
from warehouse.layout import validate_app_id

MAX_KEY_PATH_CHARS = 200
MAX_KEY_PATH_LEVELS = 4
MAX_EVENT_TYPE_CHARS = 200  # as ingest allows
MAX_VALUE_CHARS = 1000
MAX_DESTINATIONS = 20
MAX_ID_CHARS = 128
SILENCE_MINUTES = 60  # "no events for an hour" is the default meaning of "tracking broke"
# Twice the runner's settle delay (`_runner.SETTLE_S`, five minutes): a shorter silence is
# only the ingest's normal lag and would raise false alarms.
MIN_SILENCE_MINUTES = 10
MAX_SILENCE_MINUTES = 7 * 24 * 60
_KEY_SEGMENT = re.compile(r"[A-Za-z0-9_$-]{1,64}")

#: Every code a spec's :class:`MonitorError` can carry, with the hint shown next to it.
HINTS: dict[str, str] = {
    "bad_monitor": "check the monitor against the documented shape",
    "invalid_json": "send the monitor as one well-formed JSON object",
    "missing_key": "add the key",
    "unknown_key": "remove the key; monitors accept only documented keys",
    "bad_value": "use a value of the documented type and range",
    "bad_app_id": "use 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
    "bad_property": f"a property key path is 1-{MAX_KEY_PATH_LEVELS} dotted keys of letters, "
    f"digits, '_', '$' and '-', at most {MAX_KEY_PATH_CHARS} characters, e.g. cart.total",
    "bad_metric": 'metric "sum" needs property (a numeric property key); "events" and "users" '
    "take none",
    "silence_too_short": f"use silence_minutes of at least {MIN_SILENCE_MINUTES}: events take "
    "up to five minutes to reach the warehouse, so a shorter silence is normal lag",
    "bad_no_events": "a no_events monitor watches all of an app's events: leave out metric, "
    "property, event_type and breakdown",
}
# Checks of the whole spec name the field a person should change.
_FIELDS = {"bad_metric": "property", "bad_no_events": "kind"}
_PYDANTIC_CODES = {
    "missing": "missing_key",
    "extra_forbidden": "unknown_key",
    "json_invalid": "invalid_json",
    "literal_error": "bad_value",
    "enum": "bad_value",
}


def check_key_path(value: str) -> str:
    """``value`` if it is a dotted property key path we can address portably."""
    segments = value.split(".")
    if (
        len(value) > MAX_KEY_PATH_CHARS
        or len(segments) > MAX_KEY_PATH_LEVELS
        or not all(_KEY_SEGMENT.fullmatch(s) for s in segments)
    ):
        raise PydanticCustomError("bad_property", f"{value[:80]!r} is not a property key path")
    return value


KeyPath = Annotated[StrictStr, Field(min_length=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BreakdownValue(_Frozen):
    """Only events whose property ``key`` equals ``value`` (compared as text)."""

    key: KeyPath
    value: StrictStr = Field(max_length=MAX_VALUE_CHARS)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return check_key_path(value)


class MonitorSpec(_Frozen):
    """One monitor; frozen and JSON-storable (``model_dump_json`` / :func:`parse_monitor`)."""

    app_id: StrictStr
    kind: Literal["anomaly", "no_events"] = "anomaly"
    metric: Literal["events", "users", "sum"] = "events"
    property: KeyPath | None = None
    event_type: StrictStr | None = Field(None, min_length=1, max_length=MAX_EVENT_TYPE_CHARS)
    breakdown: BreakdownValue | None = None
    resolution: Resolution = Resolution.HOUR
    sensitivity: Sensitivity = Sensitivity.MEDIUM
    silence_minutes: int = Field(SILENCE_MINUTES, strict=True, le=MAX_SILENCE_MINUTES)
    destination_ids: tuple[Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID_CHARS)],
                           ...] = Field((), max_length=MAX_DESTINATIONS)

    @field_validator("app_id")
    @classmethod
    def _safe_app_id(cls, value: str) -> str:
        try:
            return validate_app_id(value)
        except LayoutError as exc:
            raise PydanticCustomError("bad_app_id", exc.message) from None

    @field_validator("silence_minutes")
    @classmethod
    def _long_enough(cls, value: int) -> int:
        if value < MIN_SILENCE_MINUTES:
            raise PydanticCustomError(
                "silence_too_short", f"{value} minutes is shorter than the "
                f"{MIN_SILENCE_MINUTES} minutes a silence must last to be told from ingest lag")
        return value

    @field_validator("property")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return None if value is None else check_key_path(value)

    @model_validator(mode="after")
    def _consistent(self) -> MonitorSpec:
        if self.kind == "no_events":
            narrowed = (self.metric != "events" or self.property is not None
                        or self.event_type is not None or self.breakdown is not None)
            if narrowed:
                raise PydanticCustomError(
                    "bad_no_events", "a no_events monitor takes no metric, property, "
                    "event_type or breakdown")
        elif (self.metric == "sum") != (self.property is not None):
            raise PydanticCustomError(
                "bad_metric", f"metric {self.metric!r} "
                + ("needs a property" if self.metric == "sum" else "takes no property"))
        return self


def parse_monitor(data: Any) -> MonitorSpec:
    """A spec from JSON text (str or bytes) or decoded JSON; :class:`MonitorError` naming the
    field (``facts['field']``), with a stable code and a hint."""
    try:
        if isinstance(data, str | bytes):
            return MonitorSpec.model_validate_json(data)
        return MonitorSpec.model_validate(data)
    except ValidationError as exc:
        raise monitor_error_from(exc) from None


def monitor_error_from(exc: ValidationError) -> MonitorError:
    """The first error of ``exc`` as a :class:`MonitorError` naming its field."""
    errors = exc.errors(include_url=False)
    if not errors:  # pragma: no cover - pydantic always reports at least one
        return _error("bad_monitor", "monitor", str(exc))
    first = errors[0]
    kind = first["type"]
    code = kind if kind in HINTS else _PYDANTIC_CODES.get(kind, "bad_value")
    if kind.startswith(("string_", "int_", "too_", "greater_", "less_", "bool_")):
        code = "bad_value"
    facts: dict[str, Any] = {}
    if len(errors) > 1:
        facts["more_errors"] = len(errors) - 1
    field = _loc(first["loc"]) or _FIELDS.get(code, "monitor")
    return _error(code, field, first["msg"], **facts)


def _error(code: str, field: str, message: str, **facts: Any) -> MonitorError:
    return MonitorError(f"{field}: {message}", code=code, hint=HINTS.get(code, ""), field=field,
                        **facts)


def _loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
