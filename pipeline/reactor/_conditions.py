"""The condition language: typed JSON conditions on one event, compiled once into closures.

A condition is a JSON object with exactly one operator key::

    {"and": [c, …]}   {"or": [c, …]}   {"not": c}
    {"eq" | "ne" | "contains": {"field": f, "value": v}}
    {"gt" | "gte" | "lt" | "lte": {"field": f, "value": number or string}}
    {"in": {"field": f, "values": [v, …]}}
    {"exists": {"field": f}}
    {"regex": {"field": f, "pattern": "RE2 syntax"}}

A field is a dotted path: ``properties.<key>[.<key>…]``, ``context.<key>[.<key>…]``, or one of the
top-level event fields ``user_id``, ``anonymous_id``, ``event_type``, ``category``, ``app_id``,
``session_id``. A value is a string, a finite number or a boolean. :class:`ConditionLimits` caps
depth, node count, path length, ``in`` values, pattern and string sizes; each cap has its own
error code (see :mod:`pipeline.reactor._errors`).

Semantics — an evaluation never raises, whatever the event holds; wrong types are just false:

* A field is *missing* when a key on its path is absent, a step is not an object (paths index
  objects only, never lists), or its value is JSON null: null and absent are the same.
* Every leaf comparison on a missing field is false, ``ne`` included (as in SQL: ``plan ne
  "free"`` does not match events without a plan; ``{"not": {"eq": …}}`` does). Only ``exists``
  and ``not`` can be true of a missing field.
* Values have kinds: number (int or float, never bool), string, boolean. Values of different
  kinds are neither equal nor unequal (``eq`` and ``ne`` both false); 1 and 1.0 are equal, true
  and 1 are not. Objects and lists in the event equal nothing.
* ``gt``/``gte``/``lt``/``lte`` compare numbers numerically and strings by code point; nothing else.
* ``contains``: a substring of a string field (for a string value), or an element of a list
  field, equal as ``eq`` says.
* ``in``: the field equals one of the values, as ``eq`` says.
* ``regex``: an RE2 search (linear time, no backreferences or lookaround) in a string field.
* ``and``/``or`` take at least one operand and short-circuit left to right.

Conditions compile once per rule change into plain closures (:func:`compile_conditions`); there
is no ``eval`` and no interpretation of the JSON per event.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeAlias

import re2
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from pipeline.reactor._errors import format_loc, rule_error, rule_error_from

#: An event as the reactor sees it: top-level fields, ``properties`` and ``context`` decoded.
Event: TypeAlias = Mapping[str, Any]
#: A compiled condition.
Predicate: TypeAlias = Callable[[Event], bool]

TOP_LEVEL_FIELDS = frozenset(
    ("user_id", "anonymous_id", "event_type", "category", "app_id", "session_id")
)
NESTED_ROOTS = frozenset(("properties", "context"))

MAX_DEPTH = 16
MAX_NODES = 200
MAX_PATH_SEGMENTS = 10  # the root (``properties``) counts as one
MAX_FIELD_CHARS = 1_000
MAX_IN_VALUES = 1_000
MAX_PATTERN_CHARS = 1_000
MAX_STRING_BYTES = 4 * 1024  # UTF-8
REGEX_MAX_MEM_BYTES = 8 * 1024 * 1024  # RE2's own default, made explicit


@dataclass(frozen=True)
class ConditionLimits:
    """The caps on one rule's conditions; pass as ``context={"limits": …}`` to pydantic."""

    max_depth: int = MAX_DEPTH
    max_nodes: int = MAX_NODES
    max_path_segments: int = MAX_PATH_SEGMENTS
    max_field_chars: int = MAX_FIELD_CHARS
    max_in_values: int = MAX_IN_VALUES
    max_pattern_chars: int = MAX_PATTERN_CHARS
    max_string_bytes: int = MAX_STRING_BYTES


DEFAULT_LIMITS = ConditionLimits()


def limits_of(info: ValidationInfo) -> ConditionLimits:
    """The limits in a validation context, or :data:`DEFAULT_LIMITS`."""
    found = info.context.get("limits") if isinstance(info.context, dict) else None
    return found if isinstance(found, ConditionLimits) else DEFAULT_LIMITS


def _invalid(code: str, message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(code, message, ctx or None)


def field_problem(path: str, limits: ConditionLimits) -> tuple[str, str] | None:
    """``(code, message)`` saying why ``path`` is not a field, or None when it is one."""
    if len(path) > limits.max_field_chars:
        return "field_too_long", f"field is {len(path)} characters, over {limits.max_field_chars}"
    segments = path.split(".")
    root = segments[0]
    if root in TOP_LEVEL_FIELDS:
        if len(segments) > 1:
            return "bad_field", f"field {path!r}: {root} is a string and has no keys"
    elif root not in NESTED_ROOTS:
        return "bad_field", f"unknown field {path!r}"
    elif len(segments) == 1:
        return "bad_field", f"field {path!r} names no key, e.g. {root}.plan"
    if "" in segments:
        return "bad_field", f"field {path!r} has an empty segment"
    if len(segments) > limits.max_path_segments:
        return "path_too_long", (
            f"field has {len(segments)} segments, over {limits.max_path_segments}"
        )
    return None


def _check_string(value: object, limits: ConditionLimits, at: tuple[int, ...] = ()) -> None:
    if isinstance(value, str):
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > limits.max_string_bytes:
            raise _invalid(
                "value_too_long",
                f"string is {size} bytes, over {limits.max_string_bytes}",
                at=at,
            )


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = REGEX_MAX_MEM_BYTES


def compile_regex(pattern: str) -> Any:
    """An RE2 regex; ValueError with RE2's reason when ``pattern`` is not one."""
    try:
        return re2.compile(pattern, options=_RE2_OPTIONS)
    except (re2.error, UnicodeError, TypeError) as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"invalid regular expression: {reason}") from None


# -- the typed tree ---------------------------------------------------------------------------


def _scalar(value: Any) -> str | int | float | bool:
    if type(value) in (str, int, bool) or (type(value) is float and math.isfinite(value)):
        scalar: str | int | float | bool = value
        return scalar
    raise _invalid("bad_value", "a value is a string, a finite number or a boolean")


def _ordered(value: Any) -> str | int | float:
    if type(value) is bool:
        raise _invalid("bad_value", "gt, gte, lt and lte compare a number or a string")
    return _scalar(value)


# one validator each rather than a union, so a wrong value is one clear error, not four
Scalar: TypeAlias = Annotated[str | int | float | bool, PlainValidator(_scalar)]
Ordered: TypeAlias = Annotated[str | int | float, PlainValidator(_ordered)]


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", serialize_by_alias=True, validate_by_name=True
    )


class _Operand(_Frozen):
    field: StrictStr

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str, info: ValidationInfo) -> str:
        problem = field_problem(value, limits_of(info))
        if problem:
            raise _invalid(*problem)
        return value


class FieldRef(_Operand):
    """The operand of ``exists``."""


class Compare(_Operand):
    """The operand of ``eq``, ``ne`` and ``contains``."""

    value: Scalar

    @field_validator("value")
    @classmethod
    def _short(cls, value: Scalar, info: ValidationInfo) -> Scalar:
        _check_string(value, limits_of(info))
        return value


class Order(_Operand):
    """The operand of ``gt``, ``gte``, ``lt`` and ``lte``."""

    value: Ordered

    @field_validator("value")
    @classmethod
    def _short(cls, value: Ordered, info: ValidationInfo) -> Ordered:
        _check_string(value, limits_of(info))
        return value


class Members(_Operand):
    """The operand of ``in``."""

    values: tuple[Scalar, ...]

    @field_validator("values", mode="before")
    @classmethod
    def _count(cls, value: Any, info: ValidationInfo) -> Any:
        limits = limits_of(info)
        if isinstance(value, list | tuple):
            if not value:
                raise _invalid("bad_value", "`in` needs at least one value")
            if len(value) > limits.max_in_values:
                raise _invalid(
                    "too_many_values", f"{len(value)} values, over {limits.max_in_values}"
                )
        return value

    @field_validator("values")
    @classmethod
    def _short(cls, value: tuple[Scalar, ...], info: ValidationInfo) -> tuple[Scalar, ...]:
        limits = limits_of(info)
        for i, item in enumerate(value):
            _check_string(item, limits, (i,))
        return value


class Pattern(_Operand):
    """The operand of ``regex``."""

    pattern: StrictStr

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str, info: ValidationInfo) -> str:
        limits = limits_of(info)
        if len(value) > limits.max_pattern_chars:
            raise _invalid(
                "pattern_too_long",
                f"pattern is {len(value)} characters, over {limits.max_pattern_chars}",
            )
        try:
            compile_regex(value)
        except ValueError as exc:
            raise _invalid("bad_regex", str(exc)) from None
        return value


class And(_Frozen):
    op: ClassVar[str] = "and"
    and_: tuple[Condition, ...] = Field(alias="and", min_length=1)


class Or(_Frozen):
    op: ClassVar[str] = "or"
    or_: tuple[Condition, ...] = Field(alias="or", min_length=1)


class Not(_Frozen):
    op: ClassVar[str] = "not"
    not_: Condition = Field(alias="not")


class Eq(_Frozen):
    op: ClassVar[str] = "eq"
    eq: Compare


class Ne(_Frozen):
    op: ClassVar[str] = "ne"
    ne: Compare


class In(_Frozen):
    op: ClassVar[str] = "in"
    in_: Members = Field(alias="in")


class Gt(_Frozen):
    op: ClassVar[str] = "gt"
    gt: Order


class Gte(_Frozen):
    op: ClassVar[str] = "gte"
    gte: Order


class Lt(_Frozen):
    op: ClassVar[str] = "lt"
    lt: Order


class Lte(_Frozen):
    op: ClassVar[str] = "lte"
    lte: Order


class Contains(_Frozen):
    op: ClassVar[str] = "contains"
    contains: Compare


class Exists(_Frozen):
    op: ClassVar[str] = "exists"
    exists: FieldRef


class Regex(_Frozen):
    op: ClassVar[str] = "regex"
    regex: Pattern


def _operator(node: Any) -> str | None:
    """The tag of a node: its one key (raw JSON) or its class's ``op`` (a built node)."""
    if isinstance(node, dict):
        return next(iter(node)) if len(node) == 1 else None
    return getattr(node, "op", None)


Condition: TypeAlias = Annotated[
    Annotated[And, Tag("and")]
    | Annotated[Or, Tag("or")]
    | Annotated[Not, Tag("not")]
    | Annotated[Eq, Tag("eq")]
    | Annotated[Ne, Tag("ne")]
    | Annotated[In, Tag("in")]
    | Annotated[Gt, Tag("gt")]
    | Annotated[Gte, Tag("gte")]
    | Annotated[Lt, Tag("lt")]
    | Annotated[Lte, Tag("lte")]
    | Annotated[Contains, Tag("contains")]
    | Annotated[Exists, Tag("exists")]
    | Annotated[Regex, Tag("regex")],
    Discriminator(_operator),
]
OPERATORS: tuple[str, ...] = tuple(
    node.op for node in (And, Or, Not, Eq, Ne, In, Gt, Gte, Lt, Lte, Contains, Exists, Regex)
)

# the attribute holding a node's operand, where the operator is a Python keyword
_ATTRIBUTE = {"and": "and_", "or": "or_", "not": "not_", "in": "in_"}

for _model in (And, Or, Not):
    _model.model_rebuild()


def _children(node: Any) -> list[tuple[tuple[str | int, ...], Any]]:
    """A node's sub-conditions with their location relative to it, raw or built."""
    op = _operator(node)
    if op not in ("and", "or", "not"):
        return []
    arg = node[op] if isinstance(node, dict) else getattr(node, _ATTRIBUTE[op])
    if op == "not":
        return [((op,), arg)]
    if not isinstance(arg, list | tuple):
        return []
    return [((op, i), child) for i, child in enumerate(arg)]


def check_shape(data: Any, info: ValidationInfo) -> Any:
    """Depth and node caps, on the input before pydantic recurses into it."""
    limits = limits_of(info)
    count = 1
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(data, 1, ())]
    while stack:
        node, depth, at = stack.pop()
        if depth > limits.max_depth:
            raise _invalid("too_deep", f"conditions nest over {limits.max_depth} deep", at=at)
        for where, child in _children(node):
            count += 1
            if count > limits.max_nodes:
                raise _invalid(
                    "too_many_nodes", f"over {limits.max_nodes} conditions", at=(*at, *where)
                )
            stack.append((child, depth + 1, (*at, *where)))
    return data


#: A condition with the depth and node caps checked first; what rules hold.
CheckedCondition: TypeAlias = Annotated[Condition, BeforeValidator(check_shape)]
_ADAPTER: TypeAdapter[Condition] = TypeAdapter(CheckedCondition)


def parse_condition(data: Any, *, limits: ConditionLimits = DEFAULT_LIMITS) -> Condition:
    """A condition from JSON text (str or bytes) or decoded JSON; :class:`RuleError` if bad."""
    context = {"limits": limits}
    try:
        if isinstance(data, str | bytes):
            return _ADAPTER.validate_json(data, context=context)
        return _ADAPTER.validate_python(data, context=context)
    except ValidationError as exc:
        raise rule_error_from(exc, root=("conditions",)) from None


# -- compiling ---------------------------------------------------------------------------------

_KINDS: dict[type, str] = {bool: "bool", int: "number", float: "number", str: "string"}
_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def _kind(value: object) -> str | None:
    return _KINDS.get(type(value))


def _always(event: Event) -> bool:
    return True


def compile_conditions(
    condition: Condition | None, *, limits: ConditionLimits = DEFAULT_LIMITS
) -> Predicate:
    """``condition`` as a predicate on events, built once (None: always true).

    The regexes are compiled here; :class:`RuleError` names the field of any that fails.
    """
    if condition is None:
        return _always
    return _compile(condition, ("conditions",), 1, limits)


def _compile(
    node: Any, loc: tuple[str | int, ...], depth: int, limits: ConditionLimits
) -> Predicate:
    if depth > limits.max_depth:
        raise rule_error("too_deep", format_loc(loc), f"conditions nest over {limits.max_depth}")
    op = _operator(node)
    if op in ("and", "or"):
        parts = tuple(
            _compile(child, (*loc, *where), depth + 1, limits) for where, child in _children(node)
        )
        return _all(parts) if op == "and" else _any(parts)
    if op == "not":
        ((where, child),) = _children(node)
        return _negate(_compile(child, (*loc, *where), depth + 1, limits))
    if not isinstance(node, _Frozen) or op not in OPERATORS:
        raise rule_error("bad_condition", format_loc(loc), f"not a condition: {node!r:.200}")
    arg = getattr(node, _ATTRIBUTE.get(op, op))
    loc = (*loc, op)
    problem = field_problem(arg.field, limits)
    if problem:
        raise rule_error(problem[0], format_loc((*loc, "field")), problem[1])
    get = _getter(tuple(arg.field.split(".")))
    if op == "exists":
        return lambda event: get(event) is not None
    if op == "regex":
        try:
            regex = compile_regex(arg.pattern)
        except ValueError as exc:
            raise rule_error("bad_regex", format_loc((*loc, "pattern")), str(exc)) from None
        return _search(get, regex)
    if op == "in":
        return _member(get, arg.values)
    if op == "contains":
        return _contains(get, arg.value)
    if op in _ORDER:
        return _compare(get, _ORDER[op], arg.value)
    return _equal(get, arg.value, negate=op == "ne")


def _getter(keys: tuple[str, ...]) -> Callable[[Event], Any]:
    def get(event: Event) -> Any:
        value: Any = event
        for key in keys:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
        return value

    return get


def _all(parts: tuple[Predicate, ...]) -> Predicate:
    return lambda event: all(part(event) for part in parts)


def _any(parts: tuple[Predicate, ...]) -> Predicate:
    return lambda event: any(part(event) for part in parts)


def _negate(part: Predicate) -> Predicate:
    return lambda event: not part(event)


def _equal(get: Callable[[Event], Any], expected: Scalar, *, negate: bool) -> Predicate:
    kind = _kind(expected)

    def equal(event: Event) -> bool:
        value = get(event)
        return _kind(value) == kind and (value != expected if negate else value == expected)

    return equal


def _compare(
    get: Callable[[Event], Any], cmp: Callable[[Any, Any], bool], bound: Ordered
) -> Predicate:
    kind = _kind(bound)

    def compare(event: Event) -> bool:
        value = get(event)
        return _kind(value) == kind and cmp(value, bound)

    return compare


def _member(get: Callable[[Event], Any], values: tuple[Scalar, ...]) -> Predicate:
    # (kind, value) keys: 1 and 1.0 hash and compare equal, True and 1 no longer do
    keys = frozenset((_kind(v), v) for v in values)

    def member(event: Event) -> bool:
        value = get(event)
        kind = _kind(value)
        return kind is not None and (kind, value) in keys

    return member


def _contains(get: Callable[[Event], Any], needle: Scalar) -> Predicate:
    kind = _kind(needle)

    def contains(event: Event) -> bool:
        value = get(event)
        if type(value) is str:
            return kind == "string" and needle in value  # type: ignore[operator]
        if type(value) is list:
            return any(_kind(item) == kind and item == needle for item in value)
        return False

    return contains


def _search(get: Callable[[Event], Any], regex: Any) -> Predicate:
    search = regex.search

    def matches(event: Event) -> bool:
        value = get(event)
        if type(value) is not str:
            return False
        try:
            return search(value) is not None
        except UnicodeEncodeError:  # a lone surrogate cannot reach RE2 as UTF-8
            return False

    return matches
