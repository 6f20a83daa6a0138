"""A grammar of queries that nest scopes every way SQL allows, for the generated tenant tests.

Every generated relation yields one varchar column `v`. Table references are drawn from the
catalog table in several spellings, from the CTEs visible where the reference stands, and from
names an attacker would try (engine objects, file globs, CTEs of *other* scopes). The generator
tracks visibility exactly as SQL defines it, so each query knows whether the guardrails must
refuse it (`must_refuse`: it reads a name that is neither visible nor a catalog table).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

EVENTS_SPELLINGS = ("events", "EVENTS", '"events"', '"EVENTS"', "Events")
EVENT_COLUMNS = ("user_id", "event_type", "app_id", "event_id", "anonymous_id", "category")
# What an attacker names: engine objects, the other engine's metadata, a path glob.
ATTACK_NAMES = (
    '"_events_src"', "duckdb_views", '"duckdb_tables"', "sqlite_master", "pg_class",
    '"events$partitions"', "information_schema_tables", '"{glob}"',
)
MAX_DEPTH = 4


@dataclass
class Generated:
    sql: str
    must_refuse: bool = False


@dataclass
class _State:
    glob: str
    counter: int = 0
    defined: list[str] = field(default_factory=list)  # every CTE name written anywhere
    must_refuse: bool = False
    in_recursive: bool = False  # Trino refuses a recursive WITH inside another

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


def _key(name: str) -> str:
    return name.strip('"').lower()


def queries(glob: str) -> st.SearchStrategy[Generated]:
    """Whole queries: `SELECT v, count(*) ... GROUP BY v` over a generated relation."""

    @st.composite
    def build(draw: st.DrawFn) -> Generated:
        state = _State(glob=glob)
        body = draw(_relation(state, {}, 0))
        sql = f"SELECT v, count(*) AS n FROM ({body}) AS outer_q GROUP BY v"
        return Generated(sql, state.must_refuse)

    return build()


def _relation(state: _State, visible: dict[str, str], depth: int) -> st.SearchStrategy[str]:
    """`visible` maps a lower-cased CTE name to the spelling it was defined with."""
    if depth >= MAX_DEPTH:
        return _leaf(state, visible)
    kinds = [
        "leaf", "subquery", "setop", "exists", "in", "scalar", "lateral", "with", "with",
        "recursive",
    ]
    return st.sampled_from(kinds).flatmap(lambda kind: _FORMS[kind](state, visible, depth + 1))


@st.composite
def _reference(draw: st.DrawFn, state: _State, visible: dict[str, str]) -> tuple[str, str]:
    """A table reference and the column it offers as `v`."""
    pool = ["catalog"] * 4 + (["visible"] * 4 if visible else []) + ["attack"]
    if state.defined:
        pool.append("elsewhere")
    kind = draw(st.sampled_from(pool))
    if kind == "visible":
        name = draw(st.sampled_from(sorted(visible)))
        spellings = [f'"{name}"', f'"{name.upper()}"']
        if name.isidentifier():
            spellings += [name, name.upper()]
        name = draw(st.sampled_from(spellings))
    elif kind == "catalog":
        name = draw(st.sampled_from(EVENTS_SPELLINGS))
    elif kind == "elsewhere":
        name = draw(st.sampled_from(state.defined))
    else:
        name = draw(st.sampled_from(ATTACK_NAMES)).replace("{glob}", state.glob)
    if _key(name) in visible:
        return name, "v"
    if _key(name) == "events":
        return name, draw(st.sampled_from(EVENT_COLUMNS))
    state.must_refuse = True
    return name, "v"


@st.composite
def _leaf(draw: st.DrawFn, state: _State, visible: dict[str, str]) -> str:
    table, column = draw(_reference(state, visible))
    alias = state.fresh("t")
    where = draw(st.sampled_from(["", f" WHERE {alias}.{column} IS NOT NULL",
                                  f" WHERE {alias}.{column} <> 'x'"]))
    return f"SELECT {alias}.{column} AS v FROM {table} AS {alias}{where}"


@st.composite
def _subquery(draw: st.DrawFn, state: _State, visible: dict[str, str], depth: int) -> str:
    inner = draw(_relation(state, visible, depth))
    return f"SELECT v FROM ({inner}) AS {state.fresh('s')}"


@st.composite
def _setop(draw: st.DrawFn, state: _State, visible: dict[str, str], depth: int) -> str:
    left = draw(_relation(state, visible, depth))
    right = draw(_relation(state, visible, depth))
    op = draw(st.sampled_from(["UNION ALL", "UNION", "INTERSECT", "EXCEPT"]))
    return f"SELECT v FROM (({left}) {op} ({right})) AS {state.fresh('u')}"


@st.composite
def _exists(draw: st.DrawFn, state: _State, visible: dict[str, str], depth: int) -> str:
    outer = draw(_leaf(state, visible))
    inner = draw(_relation(state, visible, depth))
    negate = draw(st.sampled_from(["", "NOT "]))
    alias = state.fresh("x")
    return (f"SELECT o.v FROM ({outer}) AS o WHERE {negate}EXISTS "
            f"(SELECT 1 FROM ({inner}) AS {alias} WHERE {alias}.v = o.v)")


@st.composite
def _in(draw: st.DrawFn, state: _State, visible: dict[str, str], depth: int) -> str:
    outer = draw(_leaf(state, visible))
    inner = draw(_relation(state, visible, depth))
    negate = draw(st.sampled_from(["", "NOT "]))
    return (f"SELECT o.v FROM ({outer}) AS o WHERE o.v {negate}IN "
            f"(SELECT v FROM ({inner}) AS {state.fresh('i')} WHERE v IS NOT NULL)")


@st.composite
def _scalar(draw: st.DrawFn, state: _State, visible: dict[str, str], depth: int) -> str:
    inner = draw(_relation(state, visible, depth))
    outer = draw(_leaf(state, visible))
    return (f"SELECT coalesce((SELECT max(v) FROM ({inner}) AS {state.fresh('m')}), 'none') "
            f"AS v FROM ({outer}) AS {state.fresh('o')}")


@st.composite
def _lateral(draw: st.DrawFn, state: _State, visible: dict[str, str], depth: int) -> str:
    table, column = draw(_reference(state, visible))
    inner = draw(_relation(state, visible, depth))
    alias, lat = state.fresh("e"), state.fresh("l")
    return (f"SELECT {lat}.v FROM {table} AS {alias} CROSS JOIN LATERAL "
            f"(SELECT {alias}.{column} AS v) AS {lat} "
            f"WHERE {lat}.v IN (SELECT v FROM ({inner}) AS {state.fresh('j')})")


@st.composite
def _with(draw: st.DrawFn, state: _State, visible: dict[str, str], depth: int) -> str:
    count = draw(st.integers(1, 2))
    inner_visible = dict(visible)
    parts, here = [], set()
    for _ in range(count):
        choice = draw(st.sampled_from(["fresh", "fresh", "events", "attack"]))
        if choice == "events":
            name = draw(st.sampled_from(EVENTS_SPELLINGS))
        elif choice == "attack":
            name = draw(st.sampled_from(ATTACK_NAMES)).replace("{glob}", state.glob)
        if choice == "fresh" or _key(name) in here:  # one WITH may not define a name twice
            name = state.fresh("c")
        here.add(_key(name))
        body = draw(_relation(state, inner_visible, depth))
        parts.append(f"{name} AS ({body})")
        inner_visible[_key(name)] = name
        state.defined.append(name)
    main = draw(_relation(state, inner_visible, depth))
    return f"SELECT v FROM (WITH {', '.join(parts)} {main}) AS {state.fresh('w')}"


@st.composite
def _recursive(draw: st.DrawFn, state: _State, visible: dict[str, str], depth: int) -> str:
    if state.in_recursive:
        return draw(_subquery(state, visible, depth))
    if draw(st.booleans()):
        # Not a UNION: no engine reads it as recursive, so its own name means what it means
        # outside (an attacker's hope: an engine object read unfiltered).
        name = draw(st.sampled_from(ATTACK_NAMES)).replace("{glob}", state.glob)
        if _key(name) not in visible:
            state.must_refuse = True
        return (f"SELECT v FROM (WITH RECURSIVE {name}(v, k) AS (SELECT t.v, 0 FROM {name} AS t) "
                f"SELECT v FROM {name}) AS {state.fresh('q')}")
    name = state.fresh("r")
    state.in_recursive = True
    seed = draw(_relation(state, visible, depth))
    state.in_recursive = False
    state.defined.append(name)
    return (f"SELECT v FROM (WITH RECURSIVE {name}(v, k) AS ("
            f"SELECT v, 0 FROM ({seed}) AS {state.fresh('b')} "
            f"UNION ALL SELECT v, k + 1 FROM {name} WHERE k < 2) "
            f"SELECT v FROM {name}) AS {state.fresh('q')}")


_FORMS = {
    "leaf": lambda state, visible, depth: _leaf(state, visible),
    "subquery": _subquery,
    "setop": _setop,
    "exists": _exists,
    "in": _in,
    "scalar": _scalar,
    "lateral": _lateral,
    "with": _with,
    "recursive": _recursive,
}
