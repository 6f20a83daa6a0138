"""Phase one of rule evaluation: which rules can fire for an event at all.

A rule names one app exactly and, optionally, a category and an event type. ``None`` means any
value; otherwise the value is either exact or a glob in which ``*`` matches any run of characters
(the empty one too) and ``?`` exactly one. Every other character, ``[``, ``]`` and ``\\``
included, is literal, and matching is case-sensitive (``Checkout_*`` does not match
``checkout_done``), as event types are everywhere else.

:class:`RuleIndex` answers ``candidates(app_id, category, event_type)`` from four dict buckets per
app plus a per-app list of glob rules, and memoises each answer in a bounded LRU because a
stream repeats few keys. :class:`IndexHolder` publishes a new index with one reference
assignment, so a reader that takes ``holder.current`` once per event or batch never sees half of
a rebuild. :func:`linear_candidates` scans every rule: the reference the index is tested against.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Protocol

CACHE_KEYS = 65_536  # memoised (app_id, category, event_type) keys per index
_WILDCARDS = frozenset("*?")
_by_id = attrgetter("id")

Match = Callable[[str], bool]


class Indexed(Protocol):
    """What the index reads of a rule; ``None`` category or event type means any."""

    @property
    def id(self) -> str: ...
    @property
    def app_id(self) -> str: ...
    @property
    def category(self) -> str | None: ...
    @property
    def event_type(self) -> str | None: ...


def is_glob(value: str) -> bool:
    return not _WILDCARDS.isdisjoint(value)


class Glob:
    """A compiled ``*``/``?`` pattern; :meth:`match` is O(len(name) * len(pattern)).

    The pattern splits at ``*`` into a head anchored at the start, a tail anchored at the end
    and middle parts, each placed at its leftmost fit after the previous one. Leftmost is
    always safe: a later fit leaves less room for the parts after it, so nothing backtracks.
    """

    __slots__ = ("_head", "_middle", "_min_len", "_pattern", "_star", "_tail")

    def __init__(self, pattern: str) -> None:
        self._pattern = pattern
        parts = pattern.split("*")
        self._star = len(parts) > 1
        self._head, self._tail = parts[0], parts[-1] if self._star else ""
        self._middle = tuple(part for part in parts[1:-1] if part)
        self._min_len = len(pattern) - pattern.count("*")

    def __repr__(self) -> str:
        return f"Glob({self._pattern!r})"

    def match(self, name: str) -> bool:
        if not self._star:
            return len(name) == len(self._head) and _fits(self._head, name, 0)
        if len(name) < self._min_len:
            return False
        end = len(name) - len(self._tail)
        if not (_fits(self._head, name, 0) and _fits(self._tail, name, end)):
            return False
        pos = len(self._head)
        for part in self._middle:
            pos = _find(part, name, pos, end)
            if pos < 0:
                return False
            pos += len(part)
        return True


def _fits(part: str, name: str, pos: int) -> bool:
    """Whether ``part`` (``?`` allowed, no ``*``) matches ``name`` at ``pos``; room is checked."""
    if "?" not in part:
        return name.startswith(part, pos)
    if pos + len(part) > len(name):
        return False
    return all(p == "?" or p == c for p, c in zip(part, name[pos:pos + len(part)], strict=True))


def _find(part: str, name: str, start: int, end: int) -> int:
    """Leftmost position in ``[start, end - len(part)]`` where ``part`` fits, or -1."""
    if "?" not in part:
        return name.find(part, start, end)
    for pos in range(start, end - len(part) + 1):
        if _fits(part, name, pos):
            return pos
    return -1


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str) -> Match:
    return Glob(pattern).match  # compiled once for the scan in linear_candidates as well


def _any(_: str) -> bool:
    return True


def matcher(value: str | None) -> Match:
    """The test one rule field applies to an event's value."""
    if value is None or (value and value.strip("*") == ""):
        return _any
    if is_glob(value):
        return _glob(value)
    return value.__eq__


def _exact_key(value: str | None) -> str | None:
    """The bucket key of a non-glob field: ``None`` for any (``*`` is the same as ``None``)."""
    return None if value is None or (value and value.strip("*") == "") else value


def linear_candidates(
    rules: Iterable[Indexed], app_id: str, category: str, event_type: str
) -> tuple[Indexed, ...]:
    """Every rule that can fire for the event, by id: the scan-everything reference."""
    found = [
        rule for rule in rules
        if rule.app_id == app_id
        and matcher(rule.category)(category)
        and matcher(rule.event_type)(event_type)
    ]
    return tuple(sorted(found, key=_by_id))


class _AppRules:
    """One app's rules: exact buckets keyed (category, event_type) with None for any, and globs."""

    __slots__ = ("buckets", "globs")

    def __init__(self) -> None:
        self.buckets: dict[tuple[str | None, str | None], list[Indexed]] = {}
        self.globs: list[tuple[Indexed, Match, Match]] = []

    def add(self, rule: Indexed) -> None:
        category, event_type = _exact_key(rule.category), _exact_key(rule.event_type)
        if (category is not None and is_glob(category)) or (
            event_type is not None and is_glob(event_type)
        ):
            self.globs.append((rule, matcher(rule.category), matcher(rule.event_type)))
        else:
            self.buckets.setdefault((category, event_type), []).append(rule)

    def lookup(self, category: str, event_type: str) -> tuple[Indexed, ...]:
        get = self.buckets.get
        found: list[Indexed] = []
        for key in ((category, event_type), (category, None), (None, event_type), (None, None)):
            found.extend(get(key, ()))
        found.extend(rule for rule, cat, typ in self.globs if cat(category) and typ(event_type))
        return tuple(sorted(found, key=_by_id))


class RuleIndex:
    """An immutable index of rules; build one with :meth:`build`, never mutate it.

    The per-key memo is the only state that changes after build. Readers on several threads
    share it without a lock: each OrderedDict call is atomic under the GIL (keys are tuples of
    str), a key evicted between the get and the move is skipped, and two threads computing the
    same key store equal tuples.
    """

    __slots__ = ("_apps", "_cache", "_cache_keys", "_rules")

    def __init__(
        self, apps: dict[str, _AppRules], rules: tuple[Indexed, ...], cache_keys: int
    ) -> None:
        self._apps = apps
        self._rules = rules
        self._cache_keys = cache_keys
        self._cache: OrderedDict[tuple[str, str, str], tuple[Indexed, ...]] = OrderedDict()

    @classmethod
    def build(cls, rules: Iterable[Indexed], cache_keys: int = CACHE_KEYS) -> RuleIndex:
        """Index ``rules``; ids must be unique. ``cache_keys=0`` turns the memo off."""
        if cache_keys < 0:
            raise ValueError("cache_keys must be >= 0")
        ordered = tuple(sorted(rules, key=_by_id))
        apps: dict[str, _AppRules] = {}
        previous: str | None = None
        for rule in ordered:
            if rule.id == previous:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            previous = rule.id
            apps.setdefault(rule.app_id, _AppRules()).add(rule)
        return cls(apps, ordered, cache_keys)

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        return f"<RuleIndex {len(self._rules)} rules, {len(self._apps)} apps>"

    @property
    def rules(self) -> tuple[Indexed, ...]:
        """Every indexed rule, by id."""
        return self._rules

    @property
    def cached_keys(self) -> int:
        return len(self._cache)

    def candidates(self, app_id: str, category: str, event_type: str) -> tuple[Indexed, ...]:
        """Every rule whose app, category and event type admit the event, by id, each once."""
        key = (app_id, category, event_type)
        cache = self._cache
        hit = cache.get(key)
        if hit is not None:
            try:  # noqa: SIM105 - the hot path; suppress() would enter a context per event
                cache.move_to_end(key)
            except KeyError:  # evicted by another reader meanwhile
                pass
            return hit
        app = self._apps.get(app_id)
        if app is None:
            return ()  # not memoised: unknown apps must not push real keys out
        found = app.lookup(category, event_type)
        cache[key] = found
        if len(cache) > self._cache_keys:
            with contextlib.suppress(KeyError):  # emptied by another reader meanwhile
                cache.popitem(last=False)
        return found


EMPTY = RuleIndex.build(())


class IndexHolder:
    """The current :class:`RuleIndex` of a running reactor and how often it was replaced.

    Take :attr:`current` (or :meth:`snapshot`) once per event or batch and use that reference
    throughout; :meth:`swap` publishes a fully built index with a single assignment.
    """

    __slots__ = ("_lock", "_state")

    def __init__(self, index: RuleIndex = EMPTY) -> None:
        self._state = (0, index)
        self._lock = threading.Lock()  # orders writers; readers never take it

    @property
    def current(self) -> RuleIndex:
        return self._state[1]

    @property
    def version(self) -> int:
        """0 for the initial index, then one more per :meth:`swap`."""
        return self._state[0]

    def snapshot(self) -> tuple[int, RuleIndex]:
        """The version and the index that belong together."""
        return self._state

    def swap(self, index: RuleIndex) -> int:
        """Make ``index`` current; returns its version."""
        with self._lock:
            version = self._state[0] + 1
            self._state = (version, index)
        return version
