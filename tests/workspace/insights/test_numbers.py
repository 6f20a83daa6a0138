"""Each insight's SQL, run through `guardrails.execute` on DuckDB over the hand-built
warehouse (tests/workspace/events_fixture.py), against numbers worked out by hand.

Calendar: 2026-10-05 is a Monday. "shop" is the tenant unless a test says otherwise.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from guardrails import Policy
from guardrails.execute import RateLimiter, execute
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.insights import (
    Breakdown,
    DateRange,
    Filter,
    Funnel,
    FunnelStep,
    Retention,
    Stickiness,
    TopEvents,
    Trend,
    compile_insight,
)

TODAY = date(2026, 10, 26)
MON_TO_WED = DateRange(start=date(2026, 10, 5), end=date(2026, 10, 7))
D5, D6, D7 = (datetime(2026, 10, d) for d in (5, 6, 7))


def run(insight: Any, engine: DuckDBEngine, policy: Policy) -> list[dict[str, Any]]:
    sql = compile_insight(insight, TODAY)
    result = execute(sql, engine=engine, policy=policy, actor="test", source="sql",
                     limiter=RateLimiter())
    return result.table.to_pylist()


def pairs(rows: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in keys) for r in rows]


# -- Trend ---------------------------------------------------------------------------------

def test_trend_events_per_day(engine: DuckDBEngine, policy: Policy) -> None:
    # 10-05: u1 signup/activation/purchase, u2 signup, u8 activation, anonymous signup+page = 7
    # 10-06: u1 page, u2 activation, u3 two signups, u4 activation/signup/purchase, u6 = 8
    # 10-07: u3 activation+purchase, u5 signup/purchase/activation/purchase = 6
    rows = run(Trend(date_range=MON_TO_WED), engine, policy)
    assert pairs(rows, "period", "value") == [(D5, 7), (D6, 8), (D7, 6)]


def test_trend_unique_users_excludes_anonymous(engine: DuckDBEngine, policy: Policy) -> None:
    # 10-05: u1, u2, u8 (the anonymous events count as no one); 10-06: u1 u2 u3 u4 u6; 10-07: u3 u5
    rows = run(Trend(date_range=MON_TO_WED, measure="users"), engine, policy)
    assert pairs(rows, "period", "value") == [(D5, 3), (D6, 5), (D7, 2)]


def test_trend_sum_and_avg_of_a_json_property(engine: DuckDBEngine, policy: Policy) -> None:
    # purchases: 10-05 u1 30; 10-06 u4 50; 10-07 u3 20 + u5 5 + u5 15 = 40; news' 999 is not ours
    rows = run(Trend(date_range=MON_TO_WED, event="purchase", measure="sum",
                     property="revenue"), engine, policy)
    assert pairs(rows, "period", "value") == [(D5, 30.0), (D6, 50.0), (D7, 40.0)]
    # the week of 10-05: (30 + 50 + 20 + 5 + 15) / 5 = 24
    rows = run(Trend(date_range=MON_TO_WED, event="purchase", measure="avg",
                     property="revenue", interval="week"), engine, policy)
    assert pairs(rows, "period", "value") == [(D5, 24.0)]


def test_trend_weekly_and_hourly(engine: DuckDBEngine, policy: Policy) -> None:
    # week of 10-05: the 21 events above; week of 10-12: u8 10-12, u1 10-13, u9 two on 10-13,
    # u2 10-14, u5 10-15 = 6
    two_weeks = DateRange(start=date(2026, 10, 5), end=date(2026, 10, 18))
    rows = run(Trend(date_range=two_weeks, interval="week"), engine, policy)
    assert pairs(rows, "period", "value") == [(D5, 21), (datetime(2026, 10, 12), 6)]
    # 10-07 by hour: 07 u3 activation, 09 u3 purchase, 10 u5 signup + purchase, 11, 12
    one_day = DateRange(start=date(2026, 10, 7), end=date(2026, 10, 7))
    rows = run(Trend(date_range=one_day, interval="hour"), engine, policy)
    assert pairs(rows, "period", "value") == [
        (datetime(2026, 10, 7, 7), 1), (datetime(2026, 10, 7, 9), 1),
        (datetime(2026, 10, 7, 10), 2), (datetime(2026, 10, 7, 11), 1),
        (datetime(2026, 10, 7, 12), 1)]


def test_trend_breakdown_top_n_and_other(engine: DuckDBEngine, policy: Policy) -> None:
    # Over the range, US has 13 events (u1 4, u3 4, u5 4, u8 1), more than DE 2, GB 3, FR 1,
    # BR 2, so with limit 1 it stays and the rest is "other".
    # 10-05: US = u1 3 + u8 1; other = u2 1 + anonymous (BR) 2
    # 10-06: US = u1 1 + u3 2; other = u2 1 + u4 3 + u6 1; 10-07: US 6, no other
    insight = Trend(date_range=MON_TO_WED,
                    breakdown=Breakdown(field="properties.country", limit=1))
    rows = run(insight, engine, policy)
    assert pairs(rows, "period", "breakdown", "value") == [
        (D5, "US", 4), (D5, "other", 3), (D6, "US", 3), (D6, "other", 5), (D7, "US", 6)]


def test_trend_filters_on_properties_and_columns(engine: DuckDBEngine, policy: Policy) -> None:
    # plan = pro: u1 and u4. 10-05: u1 3; 10-06: u1 1 + u4 3; 10-07: none
    pro = Trend(date_range=MON_TO_WED, filters=[Filter(field="properties.plan", value="pro")])
    assert pairs(run(pro, engine, policy), "period", "value") == [(D5, 3), (D6, 4)]
    # revenue > 10 and country not US: only u4's 50
    rich = Trend(date_range=MON_TO_WED, filters=[
        Filter(field="properties.revenue", op="gt", value=10),
        Filter(field="properties.country", op="neq", value="US")])
    assert pairs(run(rich, engine, policy), "period", "value") == [(D6, 1)]
    # event_type in (page, signup): 10-05 u1 and u2 signups, anonymous signup and page = 4;
    # 10-06 u1 page, u3's two signups, u4 signup = 4; 10-07 u5 signup = 1
    some = Trend(date_range=MON_TO_WED, filters=[
        Filter(field="event_type", op="in", value=["page", "signup"])])
    assert pairs(run(some, engine, policy), "period", "value") == [(D5, 4), (D6, 4), (D7, 1)]
    # the path property is set only on pages: 10-05 anonymous page, 10-06 u1 page
    with_path = Trend(date_range=MON_TO_WED, filters=[
        Filter(field="properties.path", op="is_set")])
    assert pairs(run(with_path, engine, policy), "period", "value") == [(D5, 1), (D6, 1)]
    # contains is case-insensitive: "/PRICING" finds u1's page of 10-13
    pricing = Trend(date_range=DateRange(start=date(2026, 10, 5), end=date(2026, 10, 25)),
                    filters=[Filter(field="properties.path", op="contains", value="PRICING")])
    assert pairs(run(pricing, engine, policy), "period", "value") == [
        (datetime(2026, 10, 13), 1)]


def test_filter_values_cannot_escape_their_literal(engine: DuckDBEngine, policy: Policy) -> None:
    hostile = "signup' OR '1'='1"
    insight = Trend(date_range=MON_TO_WED, filters=[Filter(field="event_type", value=hostile)])
    assert run(insight, engine, policy) == []


def test_relative_date_range_counts_complete_days_before_today(
        engine: DuckDBEngine, policy: Policy) -> None:
    # today 10-26: the last 7 days are 10-19..10-25: u1 10-20, u5 10-21, u9 10-20
    rows = run(Trend(date_range=DateRange(last_days=7)), engine, policy)
    assert pairs(rows, "period", "value") == [(datetime(2026, 10, 20), 2),
                                               (datetime(2026, 10, 21), 1)]


def test_tenant_scope_applies_to_compiled_sql(engine: DuckDBEngine, unscoped: Policy) -> None:
    # Without a tenant, news' u7 adds 3 events on 10-05
    rows = run(Trend(date_range=MON_TO_WED), engine, unscoped)
    assert pairs(rows, "period", "value") == [(D5, 10), (D6, 8), (D7, 6)]


# -- Funnel --------------------------------------------------------------------------------

STEPS = [FunnelStep(event="signup"), FunnelStep(event="activation"),
         FunnelStep(event="purchase")]


def test_funnel_order_window_and_median(engine: DuckDBEngine, policy: Policy) -> None:
    # Step 1, first signup in range: u1 10-05 09:00, u2 10-05 11:00, u3 10-06 08:00,
    #   u4 10-06 10:00, u5 10-07 10:00 = 5 (u8 signed up 10-04, anonymous has no user_id)
    # Step 2 within 1 day of the first signup, after it: u1 +1 h, u3 +23 h, u5 +1 h = 3
    #   (u2 activates after 24.5 h; u4 activated before signing up)
    # Step 3 after step 2 and within 1 day of the signup: u1 (+2 h after activation),
    #   u5 (+1 h; its 10:30 purchase came before activating) = 2 (u3 buys at +25 h)
    # Medians: step 2 of [3600, 3600, 82800] = 3600; step 3 of [3600, 7200] = 5400
    rows = run(Funnel(steps=STEPS, window=1, window_unit="day", date_range=MON_TO_WED),
               engine, policy)
    assert pairs(rows, "step", "event", "users") == [
        (1, "signup", 5), (2, "activation", 3), (3, "purchase", 2)]
    assert [r["conversion_from_first"] for r in rows] == pytest.approx([1.0, 0.6, 0.4])
    assert [r["conversion_from_previous"] for r in rows] == pytest.approx([1.0, 0.6, 2 / 3])
    assert [r["median_seconds_to_convert"] for r in rows] == [None, 3600.0, 5400.0]


def test_funnel_wider_window(engine: DuckDBEngine, policy: Policy) -> None:
    # 2 days: u2 (+24.5 h = 88200 s) joins step 2; u3 buys 2 h after activating (inside
    # anchor + 48 h) and joins step 3. Step 2 medians of [3600, 3600, 82800, 88200] = 43200;
    # step 3 of [7200, 7200, 3600] = 7200
    rows = run(Funnel(steps=STEPS, window=2, date_range=MON_TO_WED), engine, policy)
    assert pairs(rows, "users", "median_seconds_to_convert") == [
        (5, None), (4, 43200.0), (3, 7200.0)]


def test_funnel_breakdown_uses_first_step_value(engine: DuckDBEngine, policy: Policy) -> None:
    # device at each user's first signup: u1 ios, u2 web, u3 android (its second signup says
    # ios, but the first counts), u4 ios, u5 web. Top 2 by users: ios 2, web 2; android → other.
    # ios: u1 converts fully, u4 stops at 1; web: u5 fully, u2 stops; other: u3 reaches step 2
    insight = Funnel(steps=STEPS, window=1, date_range=MON_TO_WED,
                     breakdown=Breakdown(field="properties.device", limit=2))
    rows = run(insight, engine, policy)
    assert pairs(rows, "breakdown", "step", "users", "median_seconds_to_convert") == [
        ("ios", 1, 2, None), ("ios", 2, 1, 3600.0), ("ios", 3, 1, 7200.0),
        ("other", 1, 1, None), ("other", 2, 1, 82800.0), ("other", 3, 0, None),
        ("web", 1, 2, None), ("web", 2, 1, 3600.0), ("web", 3, 1, 3600.0)]
    other = [r for r in rows if r["breakdown"] == "other"]
    assert [r["conversion_from_previous"] for r in other] == [1.0, 1.0, 0.0]


def test_funnel_without_tenant_includes_other_apps(engine: DuckDBEngine,
                                                   unscoped: Policy) -> None:
    # news' u7: signup 09:30, activation +15 min, purchase +15 min → everyone gains one
    rows = run(Funnel(steps=STEPS, window=1, date_range=MON_TO_WED), engine, unscoped)
    assert pairs(rows, "users") == [(6,), (4,), (3,)]
    # step 2 durations [900, 3600, 3600, 82800] → (3600 + 3600) / 2; step 3 [900, 3600, 7200]
    assert [r["median_seconds_to_convert"] for r in rows] == [None, 3600.0, 3600.0]


def test_funnel_step_filters(engine: DuckDBEngine, policy: Policy) -> None:
    # purchases worth at least 20: u1's 30 counts; u5's are 5 and 15 → only u1 at step 3
    steps = [*STEPS[:2], FunnelStep(event="purchase", filters=[
        Filter(field="properties.revenue", op="gte", value=20)])]
    rows = run(Funnel(steps=steps, window=1, date_range=MON_TO_WED), engine, policy)
    assert pairs(rows, "users") == [(5,), (3,), (1,)]


# -- Retention -----------------------------------------------------------------------------

THREE_WEEKS = DateRange(start=date(2026, 10, 5), end=date(2026, 10, 25))


def test_weekly_retention_any_return_event(engine: DuckDBEngine, policy: Policy) -> None:
    # Cohort 10-05 (first signup that week): u1 u2 u3 u4 u5 = 5; returns in week +1:
    #   u1 10-13, u2 10-14, u5 10-15 = 3; week +2: u1 10-20, u5 10-21 = 2.
    # Cohort 10-12: u9 (signup 10-13); week +1: 10-20. Its week +2 starts 10-26, after the range.
    # u8's only signup (10-04) is before the range, so u8 is in no cohort.
    insight = Retention(start_event="signup", periods=2, date_range=THREE_WEEKS)
    rows = run(insight, engine, policy)
    assert pairs(rows, "cohort", "period", "cohort_size", "users") == [
        (D5, 0, 5, 5), (D5, 1, 5, 3), (D5, 2, 5, 2),
        (datetime(2026, 10, 12), 0, 1, 1), (datetime(2026, 10, 12), 1, 1, 1)]
    assert [r["retention"] for r in rows] == pytest.approx([1.0, 0.6, 0.4, 1.0, 1.0])


def test_retention_with_a_return_event(engine: DuckDBEngine, policy: Policy) -> None:
    # return = page. Cohort 10-05, week 0: only u1's 10-06 page; week +1 u1 u2 u5; +2 u1 u5
    insight = Retention(start_event="signup", return_event="page", periods=2,
                        date_range=THREE_WEEKS)
    rows = run(insight, engine, policy)
    assert pairs(rows, "cohort", "period", "users") == [
        (D5, 0, 1), (D5, 1, 3), (D5, 2, 2),
        (datetime(2026, 10, 12), 0, 1), (datetime(2026, 10, 12), 1, 1)]
    assert rows[0]["retention"] == pytest.approx(0.2)


def test_daily_retention_keeps_zero_periods(engine: DuckDBEngine, policy: Policy) -> None:
    # Cohort 10-06 by first signup: u3 (08:00), u4 (10:00). Day +1 (10-07): u3 → 1; day +2: 0
    insight = Retention(start_event="signup", period="day", periods=2,
                        date_range=DateRange(start=date(2026, 10, 6), end=date(2026, 10, 8)))
    rows = run(insight, engine, policy)
    assert pairs(rows, "cohort", "period", "cohort_size", "users") == [
        (D6, 0, 2, 2), (D6, 1, 2, 1), (D6, 2, 2, 0), (D7, 0, 1, 1), (D7, 1, 1, 0)]


# -- TopEvents and Stickiness --------------------------------------------------------------

def test_top_events(engine: DuckDBEngine, policy: Policy) -> None:
    # activation 7 events (u1 u2 u3 u4 u5 u6 u8); signup 7 (u1 u2 u3×2 u4 u5 anonymous) with
    # 5 users; purchase 5 (u1 u3 u4 u5×2) with 4 users; page 2 (u1, anonymous) with 1 user
    rows = run(TopEvents(date_range=MON_TO_WED), engine, policy)
    assert pairs(rows, "event_type", "events", "users") == [
        ("activation", 7, 7), ("signup", 7, 5), ("purchase", 5, 4), ("page", 2, 1)]
    assert len(run(TopEvents(date_range=MON_TO_WED, limit=2), engine, policy)) == 2


def test_stickiness(engine: DuckDBEngine, policy: Policy) -> None:
    # distinct days active, 10-05..10-18: u1 3 (05 06 13), u2 3 (05 06 14), u3 2, u5 2 (07 15),
    # u8 2 (05 12), u4 1, u6 1, u9 1 → 1 day: 3 users, 2 days: 3, 3 days: 2 (of 8)
    insight = Stickiness(date_range=DateRange(start=date(2026, 10, 5), end=date(2026, 10, 18)))
    rows = run(insight, engine, policy)
    assert pairs(rows, "days_active", "users") == [(1, 3), (2, 3), (3, 2)]
    assert [r["share"] for r in rows] == pytest.approx([0.375, 0.375, 0.25])
