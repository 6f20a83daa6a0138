"""The rule index (pipeline.reactor._index): hand-worked cases, the linear oracle, swaps."""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.reactor._index import (
    Glob,
    Indexed,
    IndexHolder,
    RuleIndex,
    linear_candidates,
)


@dataclass(frozen=True)
class R:
    id: str
    app_id: str
    category: str | None = None
    event_type: str | None = None


def ids(found: tuple[Indexed, ...]) -> list[str]:
    return [rule.id for rule in found]


def test_rule_stand_in_satisfies_the_protocol() -> None:
    rule: Indexed = R("r", "app")
    assert rule.id == "r"


RULES = (
    R("exact", "shop", "commerce", "purchase"),
    R("any-type", "shop", "commerce", None),
    R("any-category", "shop", None, "purchase"),
    R("any-event", "shop", None, None),
    R("star-is-any", "shop", "*", "**"),
    R("checkout", "shop", "commerce", "checkout_*"),
    R("errors", "shop", None, "*_error"),
    R("three-letters", "shop", "?ay", None),
    R("other-app", "blog", None, None),
    R("upper", "shop", "Commerce", "Checkout_*"),
    R("literal-brackets", "shop", None, "a[b]*"),
    R("empty-type", "shop", "commerce", ""),
)
INDEX = RuleIndex.build(RULES)


@pytest.mark.parametrize(
    ("category", "event_type", "expected"),
    [
        ("commerce", "purchase",
         ["any-category", "any-event", "any-type", "exact", "star-is-any"]),
        ("commerce", "refund", ["any-event", "any-type", "star-is-any"]),
        ("lifecycle", "purchase", ["any-category", "any-event", "star-is-any"]),
        ("lifecycle", "signup", ["any-event", "star-is-any"]),
        # `*` matches the empty run: checkout_ and _error match
        ("commerce", "checkout_", ["any-event", "any-type", "checkout", "star-is-any"]),
        ("commerce", "checkout_started",
         ["any-event", "any-type", "checkout", "star-is-any"]),
        ("commerce", "checkout", ["any-event", "any-type", "star-is-any"]),
        ("commerce", "checkout_error",
         ["any-event", "any-type", "checkout", "errors", "star-is-any"]),
        ("web", "_error", ["any-event", "errors", "star-is-any"]),
        ("web", "error", ["any-event", "star-is-any"]),
        # `?` is exactly one character
        ("pay", "x", ["any-event", "star-is-any", "three-letters"]),
        ("day", "x", ["any-event", "star-is-any", "three-letters"]),
        ("ay", "x", ["any-event", "star-is-any"]),
        ("away", "x", ["any-event", "star-is-any"]),
        # case-sensitive everywhere
        ("Commerce", "Checkout_done", ["any-event", "star-is-any", "upper"]),
        ("COMMERCE", "PURCHASE", ["any-event", "star-is-any"]),
        ("commerce", "Checkout_done", ["any-event", "any-type", "star-is-any"]),
        # `[` is literal, not a character class
        ("web", "a[b]c", ["any-event", "literal-brackets", "star-is-any"]),
        ("web", "abc", ["any-event", "star-is-any"]),
        # an empty event type is a value like any other
        ("commerce", "", ["any-event", "any-type", "empty-type", "star-is-any"]),
    ],
)
def test_hand_worked_candidates(category: str, event_type: str, expected: list[str]) -> None:
    assert ids(INDEX.candidates("shop", category, event_type)) == expected
    assert ids(INDEX.candidates("shop", category, event_type)) == expected  # memoised
    assert ids(linear_candidates(RULES, "shop", category, event_type)) == expected


def test_app_matches_exactly_and_unknown_apps_find_nothing() -> None:
    assert ids(INDEX.candidates("blog", "commerce", "purchase")) == ["other-app"]
    assert INDEX.candidates("Shop", "commerce", "purchase") == ()
    assert INDEX.candidates("sh*", "commerce", "purchase") == ()
    assert INDEX.candidates("nowhere", "x", "y") == ()


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*", "", True),
        ("**", "", True),
        ("*?", "", False),
        ("?*", "a", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "ac", False),
        ("ab*ab", "ab", False),
        ("ab*ab", "abab", True),
        ("*a?c*", "xxabcabc", True),
        ("*a?c", "xxabcabd", False),
        ("", "", True),
        ("", "a", False),
    ],
)
def test_glob(pattern: str, name: str, matches: bool) -> None:
    assert Glob(pattern).match(name) is matches


def test_glob_has_no_backtracking_blow_up() -> None:
    name = "a" * 200
    assert not Glob("*a" * 40 + "*b").match(name)
    assert not Glob("*?a" * 30 + "*b").match(name)
    assert Glob("*a" * 40 + "*").match(name)


NAME = st.text("ab_", max_size=6)
PATTERN = st.text("ab_*?", max_size=6)


@settings(max_examples=300, deadline=None)
@given(PATTERN, NAME)
def test_glob_agrees_with_fnmatch(pattern: str, name: str) -> None:
    assert Glob(pattern).match(name) is fnmatch.fnmatchcase(name, pattern)


def _fnmatch_oracle(rules: list[R], app: str, category: str, event_type: str) -> list[str]:
    """An oracle independent of the module: fnmatch (no `[` in these alphabets)."""
    return sorted(
        rule.id for rule in rules
        if rule.app_id == app
        and (rule.category is None or fnmatch.fnmatchcase(category, rule.category))
        and (rule.event_type is None or fnmatch.fnmatchcase(event_type, rule.event_type))
    )


RULE_FIELDS = st.tuples(st.sampled_from(["a1", "a2", "a3"]), st.none() | NAME | PATTERN,
                        st.none() | NAME | PATTERN)
KEY = st.tuples(st.sampled_from(["a1", "a2", "a4"]), NAME, NAME)


@settings(max_examples=200, deadline=None)
@given(st.lists(RULE_FIELDS, max_size=40), st.lists(KEY, min_size=1, max_size=30),
       st.sampled_from([0, 3, 1000]), st.randoms(use_true_random=False))
def test_candidates_equal_the_linear_oracle(
    fields: list[tuple[str, str | None, str | None]],
    keys: list[tuple[str, str, str]],
    cache_keys: int,
    rnd: random.Random,
) -> None:
    rules = [R(f"r{n:03d}", *rule) for n, rule in enumerate(fields)]
    rnd.shuffle(rules)
    index = RuleIndex.build(rules, cache_keys=cache_keys)
    for key in keys * 2:  # the second round is answered from the memo where it kept the key
        found = index.candidates(*key)
        assert found == linear_candidates(rules, *key)
        assert ids(found) == _fnmatch_oracle(rules, *key)
        assert len(set(ids(found))) == len(found)
    assert index.cached_keys <= cache_keys


def test_memo_is_bounded_and_least_recently_used_goes_first() -> None:
    index = RuleIndex.build([R("r", "app")], cache_keys=2)
    first = index.candidates("app", "c", "one")
    index.candidates("app", "c", "two")
    assert index.candidates("app", "c", "one") is first  # a hit, now the most recent
    index.candidates("app", "c", "three")  # evicts "two"
    assert index.cached_keys == 2
    assert index.candidates("app", "c", "one") is first
    index.candidates("nowhere", "c", "four")  # unknown apps are not memoised
    assert index.cached_keys == 2


def test_duplicate_ids_and_negative_cache_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate rule id 'r'"):
        RuleIndex.build([R("r", "a"), R("r", "b")])
    with pytest.raises(ValueError, match="cache_keys"):
        RuleIndex.build([], cache_keys=-1)


def _many_rules(n: int, seed: int) -> list[R]:
    rnd = random.Random(seed)
    types = [f"{noun}_{verb}" for noun in ("checkout", "cart", "page", "video", "login")
             for verb in ("started", "done", "error", "viewed")]
    rules = []
    for n_rule in range(n):
        category: str | None = rnd.choice(["commerce", "media", "auth", None])
        event_type: str | None = rnd.choice([*types, None, "checkout_*", "*_error", "????_done"])
        rules.append(R(f"rule-{n_rule:05d}", f"app-{rnd.randrange(20)}", category, event_type))
    return rules


def test_ten_thousand_rules() -> None:
    rules = _many_rules(10_000, seed=7)
    index = RuleIndex.build(rules)
    assert len(index) == 10_000
    assert ids(index.rules) == sorted(rule.id for rule in rules)
    for key in [("app-3", "commerce", "checkout_error"), ("app-19", "media", "page_done"),
                ("app-0", "auth", "login_started"), ("app-20", "auth", "login_started")]:
        assert index.candidates(*key) == linear_candidates(rules, *key)


def test_swap_while_readers_read() -> None:
    old_rules = [R(f"old-{n}", "app", "c", f"t{n % 5}") for n in range(50)]
    new_rules = [R(f"new-{n}", "app", None, f"t{n % 3}*") for n in range(50)]
    old, new = RuleIndex.build(old_rules), RuleIndex.build(new_rules)
    keys = [("app", "c", f"t{n}") for n in range(6)]
    expected = {
        id(old): [linear_candidates(old_rules, *key) for key in keys],
        id(new): [linear_candidates(new_rules, *key) for key in keys],
    }
    holder = IndexHolder(old)
    swaps = 2_000
    readers = 4
    start = threading.Barrier(readers + 1)
    done = threading.Event()
    failures: list[BaseException] = []
    seen: list[set[str]] = [set() for _ in range(readers)]

    def read(slot: int) -> None:
        try:
            start.wait()
            while not done.is_set():
                version, index = holder.snapshot()
                assert index is (old if version % 2 == 0 else new)
                batch = [index.candidates(*key) for key in keys]  # one reference per batch
                assert batch == expected[id(index)]
                seen[slot].add("old" if index is old else "new")
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=read, args=(slot,)) for slot in range(readers)]
    for thread in threads:
        thread.start()
    start.wait()
    n = 0
    # at least `swaps` swaps, and on until every reader has read both indexes (or failed)
    while n < swaps or not (failures or all(len(by_one) == 2 for by_one in seen)):
        n += 1
        assert holder.swap(new if n % 2 else old) == n
    done.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert holder.version == n
    assert holder.current is (new if n % 2 else old)


def test_holder_starts_empty_at_version_zero() -> None:
    holder = IndexHolder()
    assert holder.version == 0
    assert len(holder.current) == 0
    assert holder.current.candidates("app", "c", "t") == ()
