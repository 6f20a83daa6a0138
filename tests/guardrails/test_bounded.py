"""`bounded`: the caps are policy, and generated hostile queries end cleanly.

Queries combining growers (repeat, lpad, rpad, format widths, replace, list_resize, reduce,
concat, casts of lists) and generators (sequence, range, cross joins of UNNEST), nested,
through CTEs and recursion, are either refused by `check` with a stable code or run under a
512 MB DuckDB with a short timeout and end: an answer, or an engine error with a code. Never
a crash, never a raw duckdb exception, never past the timeout plus slack or the memory cap
plus a margin.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails import Policy, Rejected, check
from guardrails.execute import RateLimiter, execute
from tests.guardrails._cases import CATALOG
from tests.guardrails._hostile import (
    ENGINE_REFUSALS,
    MEMORY_LIMIT,
    MEMORY_LIMIT_BYTES,
    REFUSALS,
    RSS_MARGIN_BYTES,
    STOP_SLACK_S,
    STOPS,
    Rss,
    demo_warehouse,
    sampled_rss,
)
from warehouse.engines import EngineError
from warehouse.engines.duckdb_engine import DuckDBEngine

FUZZ_TIMEOUT_S = 1.0


def code_of(sql: str, **policy: object) -> str:
    with pytest.raises(Rejected) as err:
        check(sql, CATALOG, Policy(**policy))
    assert err.value.message and err.value.hint
    return err.value.code


# -- the caps are parameters --------------------------------------------------------------

def test_the_byte_cap_is_the_policys() -> None:
    sql = "SELECT count(*) AS n FROM UNNEST(sequence(1, 10000)) AS t(x)"
    assert code_of(sql) == "value_too_large"
    check(sql, CATALOG, Policy(max_value_bytes=100_000))
    assert code_of("SELECT repeat('*', 200) AS bar", max_value_bytes=100) == "value_too_large"
    check("SELECT repeat('*', 200) AS bar", CATALOG, Policy())


def test_the_growth_cap_is_the_policys() -> None:
    sql = "SELECT repeat(event_type, 8) AS x FROM events"
    check(sql, CATALOG, Policy())
    assert code_of(sql, max_value_growth=4) == "value_too_large"


def test_a_refusal_names_the_function_the_size_and_the_cap() -> None:
    with pytest.raises(Rejected) as err:
        check("SELECT length(repeat('x', 2000000000)) AS n", CATALOG, Policy())
    assert err.value.code == "value_too_large"
    assert err.value.function == "repeat"
    assert "2,000,000,000" in err.value.message
    assert "32,768" in err.value.message
    with pytest.raises(Rejected) as err:
        check("SELECT count(*) AS n FROM UNNEST(sequence(1, 3000000000)) AS t(x)", CATALOG,
              Policy())
    assert "3,000,000,000 elements" in err.value.message
    with pytest.raises(Rejected) as err:
        check("SELECT repeat('x', length(event_type)) AS n FROM events", CATALOG, Policy())
    assert (err.value.code, err.value.function) == ("unbounded_function", "repeat")
    assert "literal" in err.value.hint


def test_the_issues_attacks_are_refused_before_anything_runs() -> None:
    started = time.perf_counter()
    for sql in ("SELECT length(repeat('x', 2000000000)) AS n",
                "SELECT count(*) AS n FROM UNNEST(range(0, 3000000000)) AS t(x)",
                "SELECT count(*) AS n FROM UNNEST(sequence(1, 3000000000)) AS t(x)",
                "SELECT length(lpad('x', 2000000000, 'y')) AS n"):
        assert code_of(sql) == "value_too_large"
    assert time.perf_counter() - started < 5


# -- generated hostile queries ------------------------------------------------------------

COUNTS = st.sampled_from(["0", "3", "16", "4000", "40000", "2000000000", "length(event_type)",
                          "hour", "(SELECT count(*) FROM events)", "-5"])
LITERAL_COUNTS = st.sampled_from(["0", "3", "16", "4000", "2000000000", "-5"])
WIDTHS = st.sampled_from(["5", "300", "30000", "2000000000"])
LEAVES = st.sampled_from(["'ab'", "event_type", "properties", "cast(hour AS varchar)",
                          "repeat('x', 1000)"])


def _grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds("repeat({}, {})".format, inner, COUNTS),
        st.builds("lpad({}, {}, 'y')".format, inner, COUNTS),
        st.builds("rpad({}, {}, '.')".format, inner, COUNTS),
        st.builds("concat({0}, {0})".format, inner),
        st.builds("({0} || '-' || {0})".format, inner),
        st.builds("printf('%-{1}s|', {0})".format, inner, WIDTHS),
        st.builds("replace({0}, 'a', {0})".format, inner),
        st.builds("replace({0}, 'a', 'bcd')".format, inner),
        st.builds("upper({})".format, inner),
        st.builds("array_join(repeat(ARRAY[{}], {}), ',')".format, inner, COUNTS),
        st.builds("array_join(transform(sequence(1, {1}), i -> {0}), '')".format, inner, COUNTS),
        st.builds("reduce(sequence(1, {1}), '', (s, i) -> s || {0}, s -> s)".format, inner,
                  COUNTS),
        st.builds("array_join(list_resize(ARRAY[{0}], {1}), '')".format, inner, COUNTS),
        st.builds("cast(sequence(1, {}) AS varchar)".format, COUNTS),
        st.builds("to_hex(to_utf8({}))".format, inner),
    )


EXPRESSIONS = st.recursive(LEAVES, _grow, max_leaves=4)
SOURCES = st.sampled_from([
    "events",
    "events CROSS JOIN UNNEST(sequence(1, {c})) AS g(i)",
    "events, UNNEST(sequence(1, {c})) AS g(i)",
    "(SELECT * FROM events LIMIT 10) AS e CROSS JOIN UNNEST(sequence(1, {c})) AS g(i) "
    "CROSS JOIN UNNEST(range(0, {c})) AS h(j)",
    "events AS e JOIN (SELECT received_at AS t FROM events) AS f ON e.event_time < f.t",
])
RECURSION_STEPS = st.sampled_from(["s", "s || 'x'", "upper(s)", "repeat(s, 2)",
                                   "substr(s, 1, 10)", "lpad(s, 10, 'y')", "s || s"])
IN_LISTS = st.sampled_from([1, 100, 3_000, 30_000])


@st.composite
def hostile_queries(draw: st.DrawFn) -> str:
    e = draw(EXPRESSIONS)
    src = draw(SOURCES).format(c=draw(COUNTS))
    shape = draw(st.integers(0, 7))
    if shape == 0:
        return f"SELECT max(length({e})) AS n FROM {src}"
    if shape == 1:
        return f"SELECT {e} AS v FROM {src}"
    if shape == 2:
        count = draw(st.one_of(LITERAL_COUNTS, st.just("length(s)")))
        return (f"WITH a AS (SELECT {e} AS s FROM {src}) "
                f"SELECT max(length(repeat(s, {count}))) AS n FROM a")
    if shape == 3:
        return (f"WITH RECURSIVE r(k, s) AS (SELECT 1, {e} FROM events UNION ALL "
                f"SELECT k + 1, {draw(RECURSION_STEPS)} FROM r "
                f"WHERE k < {draw(LITERAL_COUNTS)}) SELECT max(length(s)) AS n FROM r")
    if shape == 4:
        values = ", ".join(f"'v{i}'" for i in range(draw(IN_LISTS)))
        return f"SELECT count(*) AS n FROM {src} WHERE {e} IN ({values})"
    if shape == 5:
        return f"SELECT count(DISTINCT {e}) AS n FROM {src}"
    if shape == 6:
        return f"SELECT length(string_agg({e}, ',')) AS n FROM {src}"
    return f"SELECT count(*) AS n FROM {src} WHERE regexp_like({e}, '(a+)+$')"  # RE2: linear


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBEngine]:
    e = DuckDBEngine(demo_warehouse(tmp_path_factory.mktemp("wh"), 20_000),
                     memory_limit=MEMORY_LIMIT)
    yield e
    e.close()


@pytest.fixture(scope="module")
def outcomes() -> Counter[str]:
    return Counter()


@pytest.fixture(scope="module")
def rss() -> Iterator[Rss]:
    with sampled_rss() as sampled:
        yield sampled


@pytest.mark.timeout(600)
def test_generated_hostile_queries_are_refused_or_end_cleanly(
        engine: DuckDBEngine, outcomes: Counter[str], rss: Rss) -> None:
    policy = Policy(timeout_s=FUZZ_TIMEOUT_S, queries_per_minute=None, max_rows=1_000)
    slowest = [0.0]

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(hostile_queries())
    def one(sql: str) -> None:
        started = time.perf_counter()
        code, allowed = "ok", {"ok"}
        try:
            execute(sql, engine=engine, policy=policy, actor="fuzz", source="sql",
                    limiter=RateLimiter())
        except Rejected as err:
            code, allowed = err.code, REFUSALS
        except EngineError as err:
            code, allowed = err.code, STOPS | ENGINE_REFUSALS
        took = time.perf_counter() - started
        outcomes[code] += 1
        assert code in allowed, f"{code} for {sql[:300]}"
        slowest[0] = max(slowest[0], took)
        assert took < FUZZ_TIMEOUT_S + STOP_SLACK_S, f"{took:.1f} s for {sql[:300]}"

    one()
    print(f"\noutcomes {dict(outcomes)}; slowest {slowest[0]:.2f} s; "
          f"RSS {rss.baseline >> 20} MB -> peak {rss.peak >> 20} MB")
    assert rss.grew < MEMORY_LIMIT_BYTES + RSS_MARGIN_BYTES
    assert sum(outcomes[c] for c in REFUSALS) > 0 and outcomes["ok"] > 0
