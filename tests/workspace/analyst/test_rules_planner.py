"""The rule planner: each insight kind from everyday phrasings, what makes it unsure, what
it says it understood, and hostile input (never an exception)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warehouse.engines import CatalogInfo
from workspace.analyst import Plan, SqlQuery
from workspace.analyst.context import DataContext
from workspace.analyst.rules import SURE, RuleAnswer, RulePlanner
from workspace.insights import (
    Breakdown,
    DateRange,
    Filter,
    Funnel,
    Retention,
    Stickiness,
    TopEvents,
    Trend,
    compile_insight,
)

TODAY = date(2026, 11, 1)
ALL = DateRange(start=date(2026, 9, 6), end=date(2026, 10, 31))
EVENTS = ["page", "signup", "activation", "purchase", "add_to_cart", "search", "share",
          "checkout_error"]


@pytest.fixture(scope="module")
def planner() -> RulePlanner:
    catalog = CatalogInfo(tables={"events": {}}, samples={"events": {
        "event_type": EVENTS, "app_id": ["shop", "news", "fitness"]}})
    keys = {"country": ("text", ["US", "DE", "IN"]), "device": ("text", ["ios", "web"]),
            "plan": ("text", ["free", "pro"]), "revenue": ("number", [])}
    return RulePlanner(DataContext(catalog, keys, ("2026-09-06", "2026-10-31")))


def sure(planner: RulePlanner, question: str) -> Plan:
    answer = planner.answer(question, TODAY)
    assert answer.sure, (question, answer.confidence, answer.understood)
    assert answer.plan is not None
    return answer.plan


def test_trends(planner: RulePlanner) -> None:
    plan = sure(planner, "Daily signups in the US last week")
    assert plan.query == Trend(event="signup", interval="day", date_range=DateRange(
        start=date(2026, 10, 19), end=date(2026, 10, 25)), filters=[
        Filter(field="properties.country", value="US")])
    plan = sure(planner, "weekly active users by device")
    assert plan.query == Trend(measure="users", interval="week", date_range=ALL,
                               breakdown=Breakdown(field="properties.device", limit=20))
    plan = sure(planner, "average revenue per day in the last 7 days")
    assert plan.query == Trend(measure="avg", property="revenue",
                               date_range=DateRange(last_days=7))
    plan = sure(planner, "purchases per week excluding the free plan")
    assert plan.query == Trend(event="purchase", interval="week", date_range=ALL, filters=[
        Filter(field="properties.plan", op="neq", value="free")])


def test_totals_are_sql_built_from_templates(planner: RulePlanner) -> None:
    plan = sure(planner, "How many people signed up on ios in October?")
    assert isinstance(plan.query, SqlQuery)
    sql = plan.query.sql
    assert "COUNT(DISTINCT user_id)" in sql and "event_type = 'signup'" in sql
    assert "'$.device') = 'ios'" in sql and "dt >= '2026-10-01'" in sql
    plan = sure(planner, "revenue by country")
    assert isinstance(plan.query, SqlQuery)
    assert "GROUP BY" in plan.query.sql and "dt >=" not in plan.query.sql


def test_funnels(planner: RulePlanner) -> None:
    plan = sure(planner, "funnel from signup to purchase within 7 days")
    assert isinstance(plan.query, Funnel)
    assert [s.event for s in plan.query.steps] == ["signup", "purchase"]
    assert (plan.query.window, plan.query.window_unit) == (7, "day")
    plan = sure(planner, "sign-ups → activations → purchases in October")
    assert isinstance(plan.query, Funnel)
    assert [s.event for s in plan.query.steps] == ["signup", "activation", "purchase"]
    assert plan.query.window == 14 and plan.query.date_range.start == date(2026, 10, 1)
    assert any("window" in a for a in plan.assumptions)


def test_retention_stickiness_and_top_events(planner: RulePlanner) -> None:
    plan = sure(planner, "do people who sign up come back?")
    assert plan.query == Retention(start_event="signup", date_range=ALL)
    plan = sure(planner, "monthly retention of users who purchased")
    assert plan.query == Retention(start_event="purchase", period="month", date_range=ALL)
    plan = sure(planner, "how sticky is search this week")
    assert plan.query == Stickiness(event="search", date_range=DateRange(
        start=date(2026, 10, 26), end=TODAY))
    plan = sure(planner, "top 5 events on web yesterday")
    assert plan.query == TopEvents(limit=5, date_range=DateRange(
        start=date(2026, 10, 31), end=date(2026, 10, 31)), filters=[
        Filter(field="properties.device", value="web")])
    plan = sure(planner, "what are the 3 most common events")
    assert isinstance(plan.query, TopEvents) and plan.query.limit == 3


def test_every_sure_plan_compiles(planner: RulePlanner) -> None:
    for question in ("signups per hour yesterday", "users per month by app",
                     "checkout errors by hour on 2026-10-20", "stickiness in October",
                     "retention by week for shop"):
        plan = sure(planner, question)
        if plan.is_insight:
            assert compile_insight(plan.query, TODAY)  # type: ignore[arg-type]


@pytest.mark.parametrize("question", [
    "What share of users who signed up later activated?",  # "share" is also an event
    "Which country has the most unique users?",
    "average time from signup to activation",
    "signups in the us",  # "us" might be the country
    "signups last week and yesterday",
    "purchase conversion of activated users",  # steps in no stated order
    "how many sessions per user",
    "events per user",
])
def test_doubtful_questions_are_not_sure(planner: RulePlanner, question: str) -> None:
    answer = planner.answer(question, TODAY)
    assert not answer.sure and answer.confidence < SURE, answer.understood


def test_it_says_what_it_understood_and_suggests(planner: RulePlanner) -> None:
    answer = planner.answer("signups per day by frobnication", TODAY)
    assert not answer.sure
    assert "signup" in answer.understood and "'frobnication'" in answer.understood
    assert answer.suggestions and all(
        planner.answer(s, TODAY).sure for s in answer.suggestions)
    nothing = planner.answer("hello there", TODAY)
    assert nothing.plan is None and nothing.confidence == 0.0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_any_text_returns_an_answer(text: str) -> None:
    planner = _shared()
    answer = planner.answer(text, TODAY)
    assert isinstance(answer, RuleAnswer)
    assert 0.0 <= answer.confidence <= 1.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["signups", "by", "per", "not", "→", "to", "last", "7",
                                 "days", "country", "US", "top", "within", "in", "the",
                                 "come back", "how many", "revenue", "average", "-", "2026-10-15",
                                 "since", "from", "and", "funnel", "é", "\u202e", "\x00"]),
                max_size=60))
def test_shuffled_known_words_return_an_answer(words: list[str]) -> None:
    answer = _shared().answer(" ".join(words), TODAY)
    assert 0.0 <= answer.confidence <= 1.0


@pytest.mark.parametrize("text", [
    "signups " * 20_000,  # 160k characters, the same word again and again
    "by " * 50_000,
    "→" * 100_000,
    "a" * 100_000,
    "2026-10-15-" * 10_000,
    "last " * 30_000 + "7 days",
    "\u0130" * 100_000,  # lower() makes it longer
])
def test_very_long_inputs_return(text: str) -> None:
    answer = _shared().answer(text, TODAY)
    assert answer.confidence == 0.0 or not answer.sure
    assert "too long" in answer.understood


_PLANNER: list[RulePlanner] = []


def _shared() -> RulePlanner:
    if not _PLANNER:
        catalog = CatalogInfo(tables={"events": {}}, samples={"events": {
            "event_type": EVENTS, "app_id": ["shop"]}})
        _PLANNER.append(RulePlanner(DataContext(catalog, {"country": ("text", ["US"])})))
    return _PLANNER[0]


def test_the_public_api_is_small() -> None:
    import workspace.analyst.rules as rules

    assert sorted(rules.__all__) == ["RuleAnswer", "RulePlanner", "SURE"]


def test_several_values_of_one_field(planner: RulePlanner) -> None:
    plan = sure(planner, "signups on ios or web last week")
    assert isinstance(plan.query, SqlQuery) and "IN ('ios', 'web')" in plan.query.sql
    plan = sure(planner, "daily signups not on ios or web")
    assert isinstance(plan.query, Trend)
    assert plan.query.filters == [Filter(field="properties.device", op="not_in",
                                         value=["ios", "web"])]


@pytest.mark.parametrize("question", [
    "signups in the last 3 months",  # 90 days is not three calendar months
    "signups on ios but not ios",
    "average signups per day",
    "top countries by revenue",
    "users who did not purchase",
])
def test_more_doubts(planner: RulePlanner, question: str) -> None:
    assert not planner.answer(question, TODAY).sure


def test_odd_catalog_names_are_left_out_not_raised() -> None:
    catalog = CatalogInfo(tables={"events": {}}, samples={"events": {
        "event_type": ["x" * 300, "signup", "purchase"], "app_id": []}})
    odd = RulePlanner(DataContext(catalog, {"plan": ("text", ["pro", "a" * 39 + "…"]),
                                            "bad": ("text", [])}))
    assert "x" * 300 not in odd.lexicon.events
    assert ("a" * 39,) not in odd.lexicon.phrases
    assert not odd.answer("x" * 300 + " per day", TODAY).sure
    answer = odd.answer("signups to purchase within 1 day", TODAY)
    assert answer.plan is not None and answer.plan.query.date_range.last_days == 30
