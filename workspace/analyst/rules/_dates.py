"""Date phrases → the insights' `DateRange`, relative to `today` (UTC days).

Read from the question's words by lookups at each position: "last 7 days", "past 2 weeks",
"last week" (the calendar week before this one, Monday to Sunday), "last month", "this week",
"this month" (to today, included), "yesterday", "today", "in October", "October 2026",
"in 2026", "since 2026-10-15" or "since October" (to yesterday), "from A to B", "between A
and B", "on 2026-10-15" and "October 15", and "all time" (the data's whole extent).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

from workspace.analyst.rules._tokens import is_iso_date
from workspace.insights import DateRange
from workspace.insights._fields import MAX_RANGE_DAYS

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
MONTHS["sept"] = 9
NUMBER_WORDS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
                "fourteen": 14, "thirty": 30, "ninety": 90}
UNIT_DAYS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30,
             "year": 365, "years": 365}
LAST = frozenset({"last", "past", "previous", "trailing", "prior"})
ALL_TIME = (("all", "time"), ("all", "the", "data"), ("all", "data"), ("ever",),
            ("overall",), ("in", "total"), ("so", "far"), ("all", "days"))
MONTH_INTRO = frozenset({"in", "during", "for", "of", "since", "from"})


@dataclass
class Dates:
    """What the date phrases of a question say."""

    range: DateRange | None = None
    all_time: bool = False
    said: list[str] = field(default_factory=list)
    #: token positions the phrases used
    used: set[int] = field(default_factory=set)
    #: more than one range given (the reading keeps the first)
    conflicting: bool = False
    #: months or years counted as 30 or 365 days ("last 3 months")
    approximate: bool = False


def number(word: str) -> int | None:
    if word.isascii() and word.isdigit() and len(word) <= 4:
        return int(word)
    return NUMBER_WORDS.get(word)


def iso_day(word: str) -> date | None:
    if not is_iso_date(word):
        return None
    try:
        return date.fromisoformat(word)
    except ValueError:
        return None


def read_dates(words: list[str], today: date) -> Dates:
    """Every date phrase in `words`; the first range wins, later ones mark a conflict."""
    found = Dates()
    i = 0
    while i < len(words):
        hit = _at(words, i, today)
        if hit is None:
            i += 1
            continue
        length, value, said = hit
        if value == "all":
            found.all_time = True
        elif isinstance(value, tuple):
            first, last = value
            if found.range is not None or found.all_time:
                found.conflicting = True
            elif first <= last and (last - first).days < MAX_RANGE_DAYS:
                found.range = DateRange(start=first, end=last)
            else:
                found.conflicting = True
        else:
            if found.range is not None:
                found.conflicting = True
            else:
                found.range = DateRange(last_days=value)
                found.approximate = length == 3 and words[i + 2] in (
                    "month", "months", "year", "years")
        found.said.append(said)
        found.used |= set(range(i, i + length))
        i += length
    return found


Hit = tuple[int, "tuple[date, date] | int | str", str]


def _at(w: list[str], i: int, today: date) -> Hit | None:
    """The date phrase starting at word `i`: (length, (first, last) | last_days | "all",
    how it reads)."""
    word = w[i]
    nxt = w[i + 1] if i + 1 < len(w) else ""
    third = w[i + 2] if i + 2 < len(w) else ""
    for phrase in ALL_TIME:
        if tuple(w[i:i + len(phrase)]) == phrase:
            return len(phrase), "all", "all the data"
    if word in LAST:
        n = number(nxt)
        if n is not None and third in UNIT_DAYS and 0 < n * UNIT_DAYS[third] <= MAX_RANGE_DAYS:
            days = n * UNIT_DAYS[third]
            return 3, days, f"the last {days} complete days"
        if nxt == "week":
            if word == "past":
                return 2, 7, "the last 7 complete days"
            monday = today - timedelta(days=today.weekday() + 7)
            return 2, (monday, monday + timedelta(days=6)), f"the week of {monday}"
        if nxt == "month":
            end = today.replace(day=1) - timedelta(days=1)
            return 2, (end.replace(day=1), end), f"{calendar.month_name[end.month]} {end.year}"
        if nxt == "year":
            return 2, (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)), str(
                today.year - 1)
    if word == "this" and nxt in ("week", "month", "year"):
        start = {"week": today - timedelta(days=today.weekday()),
                 "month": today.replace(day=1), "year": today.replace(month=1, day=1)}[nxt]
        return 2, (start, today), f"this {nxt} ({start} to today)"
    if word == "yesterday":
        day = today - timedelta(days=1)
        return 1, (day, day), f"yesterday ({day})"
    if word == "today":
        return 1, (today, today), f"today ({today})"
    if word == "since":
        since, length = (iso_day(nxt), 2) if iso_day(nxt) else _month_start(nxt, third, today)
        if since is not None:
            until = max(since, today - timedelta(days=1))
            return length, (since, until), f"since {since}"
    if word in ("from", "between") and third in ("to", "and", "until", "through", "till"):
        first = iso_day(nxt)
        last = iso_day(w[i + 3]) if i + 3 < len(w) else None
        if first is not None and last is not None:
            return 4, (first, last), f"{first} to {last}"
    on = iso_day(word)
    if on is not None:
        upto = iso_day(third) if nxt in ("to", "until", "through", "till") else None
        if upto is not None:
            return 3, (on, upto), f"{on} to {upto}"
        return 1, (on, on), str(on)
    if word in ("in", "during") and nxt.isascii() and nxt.isdigit() and len(nxt) == 4:
        year = int(nxt)
        if 1 <= year <= 9999:
            return 2, (date(year, 1, 1), date(year, 12, 31)), str(year)
    return _month(w, i, today)


def _month(w: list[str], i: int, today: date) -> Hit | None:
    word = w[i]
    if word not in MONTHS:
        return None
    nxt = w[i + 1] if i + 1 < len(w) else ""
    previous = w[i - 1] if i > 0 else ""
    month = MONTHS[word]
    year_given = nxt.isascii() and nxt.isdigit() and len(nxt) == 4
    day_given = nxt.isascii() and nxt.isdigit() and 1 <= len(nxt) <= 2
    if not (year_given or day_given or previous in MONTH_INTRO):
        return None  # "may" and friends only where a date is expected
    if day_given:
        year = _year_of(month, today)
        try:
            day = date(year, month, int(nxt))
        except ValueError:
            return None
        return 2, (day, day), str(day)
    year = int(nxt) if year_given else _year_of(month, today)
    if not 1 <= year <= 9999:
        return None
    last = calendar.monthrange(year, month)[1]
    return (2 if year_given else 1), (date(year, month, 1), date(year, month, last)), (
        f"{calendar.month_name[month]} {year}")


def _year_of(month: int, today: date) -> int:
    """The most recent such month: this year's unless it is still to come."""
    return today.year if month <= today.month else today.year - 1


def _month_start(word: str, nxt: str, today: date) -> tuple[date | None, int]:
    """"since October" (its first day), "since October 2025", "since October 25": the day
    and the number of words read with "since"."""
    if word not in MONTHS:
        return None, 0
    month = MONTHS[word]
    digits = nxt.isascii() and nxt.isdigit()
    if digits and len(nxt) == 4:
        year = int(nxt)
        return (date(year, month, 1), 3) if 1 <= year <= 9999 else (None, 0)
    if digits and len(nxt) <= 2:
        try:
            return date(_year_of(month, today), month, int(nxt)), 3
        except ValueError:
            return None, 0
    return date(_year_of(month, today), month, 1), 2
