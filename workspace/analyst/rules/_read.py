"""A question's words → a `Reading`: what each phrase means, nothing decided yet.

Dates and funnel windows are read first (`_dates`, `read_window`); then, at each remaining
position, the longest phrase of the catalog (`_lexicon`) or of the grammar (`_grammar`)
is looked up, and its meaning applied in order ("by" before a key makes a breakdown, "not"
before a value a negative filter). Words that mean nothing known are kept as `unknown`,
and anything doubtful as a `doubts` entry: both lower the confidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from workspace.analyst.rules._dates import Dates, number, read_dates
from workspace.analyst.rules._grammar import FILLER, PHRASES, WHERE, WINDOW_UNITS
from workspace.analyst.rules._lexicon import MAX_PHRASE_WORDS, Lexicon, Meaning
from workspace.analyst.rules._tokens import Token

MAX_TOP = 100
UNITS = {"hour": "hour", "hours": "hour", "day": "day", "days": "day", "week": "week",
         "weeks": "week", "month": "month", "months": "month"}


@dataclass
class Reading:
    dates: Dates
    events: list[str] = field(default_factory=list)
    measure: str | None = None  # "users" | "events"
    said_events: bool = False  # the word "events" (or actions, ...) was used
    aggregate: str | None = None  # "count" | "sum" | "avg"
    numeric: str | None = None  # a numeric property key
    interval: str | None = None
    breakdown: str | None = None
    filters: list[tuple[str, str, bool]] = field(default_factory=list)  # field, value, negated
    cues: set[str] = field(default_factory=set)
    top: int | None = None
    window: tuple[int, str] | None = None
    unknown: list[str] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)
    truncated: bool = False


def read(tokens: list[Token], lex: Lexicon, today: date, truncated: bool = False) -> Reading:
    texts = [t.text for t in tokens]
    reading = Reading(dates=read_dates(texts, today), truncated=truncated)
    used = set(reading.dates.used)
    reading.window = read_window(texts, used)
    _Walker(tokens, lex, reading, used).walk()
    if reading.dates.conflicting:
        reading.doubts.append("more than one date range")
    if reading.dates.approximate:
        reading.doubts.append("months or years counted as 30 or 365 days")
    return reading


def read_window(texts: list[str], used: set[int]) -> tuple[int, str] | None:
    """``within 7 days`` (also "in under", "inside"): the funnel window; marks its words."""
    for i, word in enumerate(texts):
        if word not in ("within", "under", "inside") or i + 2 >= len(texts):
            continue
        n, unit = number(texts[i + 1]), WINDOW_UNITS.get(texts[i + 2])
        if n is not None and unit is not None and 0 < n <= 10_000 and i not in used:
            used |= {i, i + 1, i + 2}
            return n, unit
    return None


@dataclass
class _Walker:
    tokens: list[Token]
    lex: Lexicon
    reading: Reading
    used: set[int]
    by: bool = False
    negated: bool = False
    key: str | None = None  # a key waiting for its value ("where plan is pro")
    step: bool = False  # "to" / "then" after an event: the next event is a funnel step
    count: int | None = None  # a number waiting for "most common" ("5 most common events")
    event_end: int = -1  # where the last event phrase ended
    excluded: str | None = None  # the field of a negated value ("not ios or web": web too)

    def walk(self) -> None:
        i = 0
        while i < len(self.tokens):
            if i in self.used:
                i += 1
                continue
            length = self._phrase(i)
            i += max(length, 1)
        if self.key is not None:  # "which country ..." or "country breakdown"
            self._breakdown(self.key, sure=False)
        if self.negated:
            self.reading.doubts.append("a 'not' with nothing after it")
        if self.by:
            self.reading.doubts.append("a 'by' or 'per' with nothing after it")

    def _phrase(self, i: int) -> int:
        for length in range(min(MAX_PHRASE_WORDS, len(self.tokens) - i), 0, -1):
            span = range(i, i + length)
            if any(j in self.used for j in span):
                continue
            words = tuple(self.tokens[j].text for j in span)
            meanings = self._catalog(words, span)
            if meanings:
                self._meaning(meanings)
                if meanings[0].kind == "event":
                    self.event_end = i + length
                return length
            grammar = PHRASES.get(words)
            if grammar is not None:
                self._grammar(*grammar, i + length)
                return length
        self._word(i)
        return 1

    def _catalog(self, words: tuple[str, ...], span: range) -> list[Meaning]:
        found = self.lex.phrases.get(words, [])
        raw = " ".join(self.tokens[j].raw for j in span)
        fitting = [m for m in found if m.exact_case is None or m.exact_case == raw]
        if found and not fitting and span.start > 0 and self.tokens[span.start - 1].text == "the":
            self.reading.doubts.append(f"'{raw}' may be the value {found[0].value}")
        return fitting

    def _meaning(self, meanings: list[Meaning]) -> None:
        kinds = {(m.kind, m.name) for m in meanings}
        if len(kinds) > 1:
            self.reading.doubts.append(
                "ambiguous: " + " or ".join(sorted(f"{k} {n}" for k, n in kinds)))
        m = meanings[0]
        r = self.reading
        if m.kind == "event":
            if self.step:
                r.cues.add("steps")
            self.step = self.by = False
            if self.negated:
                r.doubts.append(f"excluding the event {m.name}")
                self.negated = False
            r.events.append(m.name)
        elif m.kind == "numeric":
            if r.numeric not in (None, m.name):
                r.doubts.append("two numeric properties")
            r.numeric = m.name
        elif m.kind == "key":
            if not self.by and r.filters and r.filters[-1][0] == m.name:
                return  # "the pro plan": the key confirms the value just read
            if self.by:
                self._breakdown(m.name)
            elif self.key is not None:
                self._breakdown(self.key, sure=False)
                self.key = m.name
            else:
                self.key = m.name
        elif m.kind == "value":
            assert m.value is not None
            if self.key not in (None, m.name):
                r.doubts.append(f"{self.key} does not take the value {m.value}")
            if self.by:
                r.doubts.append(f"a breakdown by the value {m.value}")
                self.by = False
            self.key = None
            negated = self.negated or self.excluded == m.name
            r.filters.append((m.name, m.value, negated))
            self.negated = False
            self.excluded = m.name if negated else None
            return
        self.excluded = None

    def _grammar(self, kind: str, value: str, end: int) -> None:
        r = self.reading
        self.excluded = None
        if kind == "interval":
            if r.interval not in (None, value):
                r.doubts.append("two intervals")
            r.interval = value
        elif kind == "measure":
            self._measure(value)
        elif kind == "abbrev":
            r.measure, r.interval = "users", value
        elif kind == "cue":
            r.cues.add(value)
            if value == "top" and self.count is not None:
                r.top, self.count = self.count, None
            elif value == "top" and end < len(self.tokens) and end not in self.used:
                n = number(self.tokens[end].text)
                if n is not None and 0 < n <= MAX_TOP:
                    r.top = n
                    self.used.add(end)
        elif kind == "by":
            self.by = True
            return
        elif kind == "not":
            self.negated = True
        elif kind == "column":
            if not self.by and r.filters and r.filters[-1][0] == value:
                return
            if self.by:
                self._breakdown(value)
            elif value == "event_type":  # "top event types": the events themselves
                r.cues.add("event_types")
            else:
                self.key = value
        elif kind == "within":
            r.doubts.append("a window without a number and unit")
        elif kind == "ratio":
            r.doubts.append("a share or ratio (not an insight of its own)")
        if self.by and kind != "by":
            r.doubts.append("'by' or 'per' followed by something that is not a field")
            self.by = False

    def _measure(self, value: str) -> None:
        r = self.reading
        if value in ("users", "events"):
            r.said_events |= value == "events"
            if self.by:
                r.doubts.append(f"a ratio per {value}")
                self.by = False
            if value == "users" or r.measure is None:
                r.measure = value
        elif value in ("sum", "avg"):
            if r.aggregate in ("sum", "avg") and r.aggregate != value:
                r.doubts.append("both a total and an average")
            r.aggregate = value
        elif r.aggregate is None:
            r.aggregate = "count"

    def _breakdown(self, name: str, sure: bool = True) -> None:
        r = self.reading
        self.by = False
        if r.breakdown not in (None, name):
            r.doubts.append("two breakdowns")
            return
        if not sure:
            r.doubts.append(f"is {name} a breakdown?")
        r.breakdown = name

    def _word(self, i: int) -> None:
        text = self.tokens[i].text
        if text in ("to", "into") and i == self.event_end:
            self.step = True
            return
        if self.by and text in UNITS:  # "in each hour of 2026-10-20": hour of day, or hourly?
            self.by = False
            self._grammar("interval", UNITS[text], i + 1)
            self.reading.doubts.append(f"read 'each {text}' as per {UNITS[text]}, not as "
                                       f"the {UNITS[text]} of the day or week")
            return
        n = number(text)
        nxt = self.tokens[i + 1].text if i + 1 < len(self.tokens) else ""
        if n is not None and 0 < n <= MAX_TOP and nxt in ("most", "top", "biggest", "main"):
            self.count = n
            return
        if text in WHERE and (self.key is not None or self.negated):
            return
        if text in FILLER:
            return
        self.reading.unknown.append(self.tokens[i].raw)
