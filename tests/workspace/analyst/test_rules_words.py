"""The rule planner's words: tokenizer, event name forms, lexicon and date phrases
(hand-worked expectations, today fixed)."""

from __future__ import annotations

from datetime import date

import pytest

from warehouse.engines import CatalogInfo
from workspace.analyst.context import DataContext
from workspace.analyst.rules._dates import read_dates
from workspace.analyst.rules._forms import phrases
from workspace.analyst.rules._lexicon import Meaning, build
from workspace.analyst.rules._tokens import ARROW, MAX_CHARS, MAX_TOKENS, tokenize

TODAY = date(2026, 11, 1)  # a Sunday


def texts(question: str) -> list[str]:
    tokens, _ = tokenize(question)
    return [t.text for t in tokens]


def test_tokens_keep_dates_and_split_hyphenated_words() -> None:
    assert texts("Sign-ups since 2026-10-15, per week?") == [
        "sign", "ups", "since", "2026-10-15", "per", "week"]
    assert texts("signup → activation -> purchase => done > x") == [
        "signup", ARROW, "activation", ARROW, "purchase", ARROW, "done", ARROW, "x"]
    tokens, _ = tokenize("In the US")
    assert [t.raw for t in tokens] == ["In", "the", "US"]
    assert texts("add_to_cart events") == ["add_to_cart", "events"]


def test_long_input_is_cut_and_says_so() -> None:
    _, cut = tokenize("x" * (MAX_CHARS + 1))
    assert cut
    tokens, cut = tokenize("a " * (MAX_TOKENS + 10))
    assert cut and len(tokens) == MAX_TOKENS
    assert tokenize("how many signups")[1] is False


@pytest.mark.parametrize(("name", "said"), [
    ("signup", ["signups", "sign up", "sign ups", "signed up", "signing up", "register"]),
    ("purchase", ["purchases", "purchased", "buy", "bought", "orders"]),
    ("activation", ["activations", "activate", "activated", "activating"]),
    ("add_to_cart", ["add to cart", "added to cart", "adds to cart"]),
    ("checkout_error", ["checkout errors", "checkout error"]),
    ("page", ["page views", "pageviews", "pages"]),
    ("login", ["logins", "log in", "logged in"]),
])
def test_event_forms_come_from_the_name(name: str, said: list[str]) -> None:
    forms = {" ".join(p) for p in phrases(name)}
    assert set(said) <= forms


def context() -> DataContext:
    catalog = CatalogInfo(tables={"events": {}}, samples={"events": {
        "event_type": ["signup", "purchase", "page"], "app_id": ["shop", "news"]}})
    return DataContext(catalog, {"country": ("text", ["US", "DE", "IN"]),
                                 "plan": ("text", ["free", "pro"]),
                                 "revenue": ("number", [])}, ("2026-09-06", "2026-10-31"))


def test_lexicon_knows_events_keys_values_and_apps() -> None:
    lex = build(context())
    assert lex.phrases[("signed", "up")] == [Meaning("event", "signup")]
    assert lex.phrases[("countries",)] == [Meaning("key", "properties.country")]
    assert lex.phrases[("pro",)] == [Meaning("value", "properties.plan", "pro")]
    assert lex.phrases[("germany",)] == [Meaning("value", "properties.country", "DE")]
    assert lex.phrases[("news",)] == [Meaning("value", "app_id", "news")]
    assert lex.phrases[("revenue",)] == [Meaning("numeric", "revenue")]
    # a code that is also an English word needs its own case
    assert lex.phrases[("in",)] == [Meaning("value", "properties.country", "IN",
                                            exact_case="IN")]


@pytest.mark.parametrize(("phrase", "first", "last"), [
    ("last 7 days", date(2026, 10, 25), date(2026, 10, 31)),
    ("in the past 2 weeks", date(2026, 10, 18), date(2026, 10, 31)),
    ("last week", date(2026, 10, 19), date(2026, 10, 25)),
    ("past week", date(2026, 10, 25), date(2026, 10, 31)),
    ("this week", date(2026, 10, 26), date(2026, 11, 1)),
    ("this month", date(2026, 11, 1), date(2026, 11, 1)),
    ("last month", date(2026, 10, 1), date(2026, 10, 31)),
    ("in November", date(2026, 11, 1), date(2026, 11, 30)),
    ("in December", date(2025, 12, 1), date(2025, 12, 31)),
    ("October 2026", date(2026, 10, 1), date(2026, 10, 31)),
    ("since 2026-10-15", date(2026, 10, 15), date(2026, 10, 31)),
    ("since October", date(2026, 10, 1), date(2026, 10, 31)),
    ("yesterday", date(2026, 10, 31), date(2026, 10, 31)),
    ("today", date(2026, 11, 1), date(2026, 11, 1)),
    ("on 2026-10-15", date(2026, 10, 15), date(2026, 10, 15)),
    ("October 20", date(2026, 10, 20), date(2026, 10, 20)),
    ("from 2026-10-05 to 2026-10-11", date(2026, 10, 5), date(2026, 10, 11)),
    ("between 2026-10-05 and 2026-10-11", date(2026, 10, 5), date(2026, 10, 11)),
    ("in 2025", date(2025, 1, 1), date(2025, 12, 31)),
    ("last year", date(2025, 1, 1), date(2025, 12, 31)),
])
def test_date_phrases(phrase: str, first: date, last: date) -> None:
    found = read_dates(texts(phrase), TODAY)
    assert found.range is not None and not found.conflicting
    assert found.range.resolve(TODAY) == (first, last)


def test_dates_that_are_not_there_or_too_many() -> None:
    assert read_dates(texts("may I see signups"), TODAY).range is None
    assert read_dates(texts("signups on 2026-02-30"), TODAY).range is None
    assert read_dates(texts("all time"), TODAY).all_time
    both = read_dates(texts("last week and yesterday"), TODAY)
    assert both.conflicting
    assert read_dates(texts("from 2026-10-11 to 2026-10-05"), TODAY).range is None
