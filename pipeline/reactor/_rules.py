"""The rule model: which events a rule watches, what must hold, how often it fires, what it does.

Rules are stored as JSON: ``rule.model_dump_json()`` and back with :func:`parse_rule` (which
turns pydantic's errors into :class:`~pipeline.reactor.RuleError`) or ``Rule.model_validate_json``.
``category`` and ``event_type`` are exact names or globs (``*`` any run of characters, ``?`` one
character); None, like ``*``, matches any.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from pipeline.reactor._conditions import (
    DEFAULT_LIMITS,
    CheckedCondition,
    ConditionLimits,
    _Frozen,
)
from pipeline.reactor._errors import rule_error_from
from warehouse.errors import LayoutError
from warehouse.layout import validate_app_id

MAX_ID_CHARS = 128
MAX_NAME_PATTERN_CHARS = 200  # event names are at most 200 characters at ingest

_Id = Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID_CHARS)]


class Throttle(_Frozen):
    """At most ``max_firings`` per ``window_s`` seconds per rule (per user when ``per_user``)."""

    max_firings: StrictInt = Field(ge=1)
    window_s: float = Field(strict=True, gt=0, allow_inf_nan=False)
    per_user: StrictBool = False


class WebhookAction(_Frozen):
    """POST the event, signed, to a destination kept in the metadata store."""

    type: Literal["webhook"] = "webhook"  # room for other kinds of action in stored rules
    destination_id: _Id


class Rule(_Frozen):
    """One event rule; frozen, so a change is a new rule (and a new compile)."""

    id: _Id
    app_id: StrictStr
    category: StrictStr | None = None
    event_type: StrictStr | None = None
    conditions: CheckedCondition | None = None
    throttle: Throttle | None = None
    actions: tuple[WebhookAction, ...] = Field(min_length=1)
    enabled: StrictBool = True

    @field_validator("app_id")
    @classmethod
    def _safe_app_id(cls, value: str) -> str:
        try:
            return validate_app_id(value)
        except LayoutError as exc:
            raise PydanticCustomError("bad_app_id", exc.message) from None

    @field_validator("category", "event_type")
    @classmethod
    def _name_pattern(cls, value: str | None) -> str | None:
        if value is not None and not 0 < len(value) <= MAX_NAME_PATTERN_CHARS:
            raise PydanticCustomError(
                "bad_glob",
                f"a name or glob has 1 to {MAX_NAME_PATTERN_CHARS} characters, not {len(value)};"
                " leave it out (null) to match any",
            )
        return value


def parse_rule(data: Any, *, limits: ConditionLimits = DEFAULT_LIMITS) -> Rule:
    """A rule from JSON text (str or bytes) or decoded JSON; :class:`RuleError` naming the field."""
    context = {"limits": limits}
    try:
        if isinstance(data, str | bytes):
            return Rule.model_validate_json(data, context=context)
        return Rule.model_validate(data, context=context)
    except ValidationError as exc:
        raise rule_error_from(exc) from None
