"""The catalog as phrases: event names (with their plurals, verb forms and synonyms),
property keys (singular and plural) and their known values, and app ids.

Built once per `DataContext`; looking a phrase up is a dict lookup. A phrase may mean
several things (an event and a value): the reader then knows it is ambiguous.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from workspace.analyst.context import DataContext
from workspace.analyst.fence import ELLIPSIS, MAX_NAME_CHARS
from workspace.analyst.rules._forms import phrases, plural
from workspace.analyst.rules._tokens import words

MAX_EVENTS = 2_000  # event names read into the lexicon (the catalog's sample is smaller)
MAX_PHRASE_WORDS = 6
#: country names people type, for keys whose values are ISO codes
COUNTRY_NAMES = {
    "US": ("united states", "usa", "america", "the states", "u s", "u s a"),
    "GB": ("united kingdom", "uk", "britain", "great britain", "england"),
    "DE": ("germany",), "FR": ("france",), "IN": ("india",), "BR": ("brazil",),
    "JP": ("japan",), "CA": ("canada",), "ES": ("spain",), "IT": ("italy",),
    "NL": ("netherlands", "holland"), "AU": ("australia",), "MX": ("mexico",),
    "CN": ("china",), "SE": ("sweden",), "PL": ("poland",),
}
#: codes that are also English words: they need the code's own case ("IN", "US")
AMBIGUOUS_CODES = frozenset({"in", "us", "it", "no", "be", "at", "is", "me", "my", "to",
                             "on", "or", "an", "as", "do", "go", "so", "up", "we", "hi"})


@dataclass(frozen=True)
class Meaning:
    kind: str  # "event" | "value" | "key" | "numeric" | "column"
    name: str  # the event, the field (properties.country) or the numeric key
    value: str | None = None  # the value, for "value"
    exact_case: str | None = None  # the value must be typed like this


@dataclass
class Lexicon:
    phrases: dict[tuple[str, ...], list[Meaning]] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    keys: dict[str, list[str]] = field(default_factory=dict)  # field -> known values
    numeric: list[str] = field(default_factory=list)  # numeric property keys

    def add(self, phrase: Iterable[str], meaning: Meaning) -> None:
        key = tuple(phrase)
        if not key or len(key) > MAX_PHRASE_WORDS:
            return
        found = self.phrases.setdefault(key, [])
        if meaning not in found:
            found.append(meaning)


def build(context: DataContext) -> Lexicon:
    """The lexicon of `context`'s catalog."""
    lex = Lexicon()
    for name in context.event_types[:MAX_EVENTS]:
        if not 0 < len(name) <= MAX_NAME_CHARS:
            continue
        lex.events.append(name)
        for phrase in phrases(name):
            lex.add(phrase, Meaning("event", name))
    for key, (kind, values) in context.property_keys.items():
        field_name = f"properties.{key}"
        if kind == "number":
            lex.numeric.append(key)
            for phrase in _key_phrases(key):
                lex.add(phrase, Meaning("numeric", key))
            continue
        lex.keys[field_name] = list(values)
        for phrase in _key_phrases(key):
            lex.add(phrase, Meaning("key", field_name))
        for value in values:
            _add_value(lex, field_name, key, value)
    apps = context.catalog.samples.get("events", {}).get("app_id", [])
    lex.keys["app_id"] = list(apps)
    for app in apps:
        _add_value(lex, "app_id", "app", app)
    return lex


def _key_phrases(key: str) -> set[tuple[str, ...]]:
    base = words(key)
    if not base:
        return set()
    *head, last = base
    return {base, (*head, plural(last))}


def _add_value(lex: Lexicon, field_name: str, key: str, value: str) -> None:
    said = words(value)
    if not said or value.endswith(ELLIPSIS) or len(value) > MAX_NAME_CHARS:
        return  # a value cut short for the prompt is not a value to filter on
    if len(said) == 1 and said[0] in AMBIGUOUS_CODES:
        lex.add(said, Meaning("value", field_name, value, exact_case=value))
    else:
        lex.add(said, Meaning("value", field_name, value))
    if key == "country":
        for name in COUNTRY_NAMES.get(value.upper(), ()):
            lex.add(words(name), Meaning("value", field_name, value))
