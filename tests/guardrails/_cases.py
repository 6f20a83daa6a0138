"""Golden-file cases, the test catalog and a small two-tenant DuckDB warehouse."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from guardrails import Policy
from warehouse.schema import TRINO_TYPES

FIXTURES = Path(__file__).parent / "fixtures"
RULE_FILES = (
    "parse.sql",
    "single_statement.sql",
    "read_only.sql",
    "known_tables.sql",
    "known_columns.sql",
    "functions.sql",
    "bounded.sql",
    "tenant_filter.sql",
    "limit.sql",
)
TENANT = "app_a"
OTHER_TENANT = "app_b"

EVENTS = dict(TRINO_TYPES)  # the real events table, as analysts write it
USERS = {"user_id": "varchar", "plan": "varchar", "country": "varchar", "app_id": "varchar"}
COUNTRIES = {"code": "varchar", "name": "varchar"}
CATALOG = {"events": EVENTS, "users": USERS, "countries": COUNTRIES}

_TITLE = re.compile(r"^-- case: (?P<title>.+?) \| (?P<options>.+)$")


@dataclass(frozen=True)
class Case:
    file: str
    line: int
    title: str
    sql: str
    expect: str
    options: dict[str, str] = field(default_factory=dict)
    expected_sql: str | None = None

    @property
    def id(self) -> str:
        return f"{self.file.removesuffix('.sql')}: {self.title}"

    @property
    def changes(self) -> set[str] | None:
        raw = self.options.get("changes")
        return None if raw is None else {c.strip() for c in raw.split(",") if c.strip()}

    def policy(self, **overrides: Any) -> Policy:
        fields: dict[str, Any] = {}
        if "tenant" in self.options:
            fields["tenant_app_id"] = self.options["tenant"] or None
        for key in ("max_rows", "max_depth", "max_ast_nodes", "max_sql_chars"):
            if key in self.options:
                fields[key] = int(self.options[key])
        for key in ("mode", "dialect"):
            if key in self.options:
                fields[key] = self.options[key]
        if "deny" in self.options:
            fields["function_denylist"] = frozenset(self.options["deny"].split(","))
        if "allow" in self.options:
            fields["function_allowlist"] = frozenset(self.options["allow"].split(","))
        fields.update(overrides)
        return Policy(**fields)


def load(name: str) -> list[Case]:
    """Parse one fixture file: `-- case: <title> | expect: <code|pass> | key: value ...`
    lines open a case; the SQL follows; an optional `-- =>` line starts the expected
    final Trino SQL. A `-- defaults: key: value | ...` line sets options for the file."""
    defaults: dict[str, str] = {}
    cases: list[Case] = []
    current: dict[str, Any] | None = None
    for number, line in enumerate((FIXTURES / name).read_text().splitlines(), start=1):
        if line.startswith("-- defaults: "):
            defaults.update(_options(line.removeprefix("-- defaults: ")))
            continue
        match = _TITLE.match(line)
        if match:
            if current is not None:
                cases.append(_case(name, current))
            options = {**defaults, **_options(match["options"])}
            current = {
                "line": number,
                "title": match["title"],
                "options": options,
                "sql": [],
                "out": None,
            }
        elif current is not None:
            if line.strip() == "-- =>":
                current["out"] = []
            elif current["out"] is not None:
                current["out"].append(line)
            else:
                current["sql"].append(line)
    if current is not None:
        cases.append(_case(name, current))
    return cases


def _options(text: str) -> dict[str, str]:
    options = {}
    for part in text.split(" | "):
        key, _, value = part.partition(":")
        options[key.strip()] = value.strip()
    return options


def _case(file: str, raw: dict[str, Any]) -> Case:
    options = dict(raw["options"])
    expect = options.pop("expect")
    sql = "\n".join(raw["sql"]).strip("\n")
    out = "\n".join(raw["out"]).strip() if raw["out"] is not None else None
    return Case(file, raw["line"], raw["title"], sql, expect, options, out or None)


def normalise(sql: str) -> str:
    """Trino SQL as sqlglot prints it, without comments: formatting-insensitive."""
    return sqlglot.parse_one(sql, read="trino").sql(dialect="trino", comments=False)


TENANT_TABLES = frozenset({"events", "users"})


def assert_every_scan_is_filtered(sql: str, tenant: str) -> None:
    """Every table reference is a CTE of the query or a catalog table, and each tenant-table
    reference sits alone in `SELECT * FROM t WHERE app_id = '<tenant>'`.

    The checked SQL names each CTE once (the guardrails rename any that hid a catalog
    table), so a name that is a CTE is one everywhere it is read.
    """
    tree = sqlglot.parse_one(sql, read="trino")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    assert not ctes & CATALOG.keys(), sql
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if name in ctes:
            continue
        assert name in CATALOG and not table.args.get("db"), sql
        if name not in TENANT_TABLES:
            continue
        select = table.parent.parent if isinstance(table.parent, exp.From) else None
        assert isinstance(select, exp.Select), sql
        assert not select.args.get("joins") and not select.args.get("laterals"), sql
        where = select.args["where"].this
        assert isinstance(where, exp.EQ), sql
        assert where.this.name == "app_id" and not where.this.table, sql
        assert where.expression == exp.Literal.string(tenant), sql
        assert isinstance(select.parent, exp.Subquery), sql


# ---- a small warehouse: two apps sharing user ids, so a leak would show ----

EVENT_TYPES = (
    "page",
    "signup",
    "activate",
    "purchase",
    "error",
    "screen",
    "product_view",
    "identify",
)
CATEGORY = {"page": "page", "screen": "screen", "identify": "identify"}


def _events(app: str, rng: random.Random, count: int) -> list[tuple[Any, ...]]:
    start = dt.datetime(2026, 11, 1)
    rows = []
    for i in range(count):
        user = f"u{rng.randint(1, 12)}" if rng.random() < 0.85 else None
        event_type = rng.choice(EVENT_TYPES)
        event_time = start + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 10))
        received = event_time + dt.timedelta(milliseconds=rng.randint(5, 600_000))
        props: dict[str, Any] = {"country": rng.choice(["DE", "FR", "US", "BR"])}
        if event_type == "purchase":
            props["amount"] = round(rng.uniform(1, 200), 2)
            props["items"] = [f"sku{k}" for k in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            props["ts"] = (event_time - dt.timedelta(seconds=rng.randint(0, 90))).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        campaign = rng.choice(["spring", "launch", "retarget"])
        context = {
            "os": rng.choice(["ios", "android", "web"]),
            "page": {"url": f"https://shop.example/p{rng.randint(1, 5)}?utm_campaign={campaign}"},
        }
        rows.append(
            (
                f"{app}-e{i:04d}",
                event_type,
                CATEGORY.get(event_type, "track"),
                user,
                f"anon{rng.randint(1, 20)}" if user is None or rng.random() < 0.5 else None,
                f"s{rng.randint(1, 30)}" if rng.random() < 0.9 else None,
                event_time,
                received,
                json.dumps(props),
                json.dumps(context),
                app,
                event_time.strftime("%Y-%m-%d"),
                event_time.strftime("%H"),
            )
        )
    return rows


def warehouse(apps: tuple[str, ...] = (TENANT, OTHER_TENANT)) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with `events`, `users` and `countries` for the given apps."""
    con = duckdb.connect(":memory:")
    con.execute(
        "CREATE TABLE events (event_id VARCHAR, event_type VARCHAR, category VARCHAR, "
        "user_id VARCHAR, anonymous_id VARCHAR, session_id VARCHAR, event_time TIMESTAMP, "
        "received_at TIMESTAMP, properties VARCHAR, context VARCHAR, app_id VARCHAR, "
        "dt VARCHAR, hour VARCHAR)"
    )
    con.execute(
        "CREATE TABLE users (user_id VARCHAR, plan VARCHAR, country VARCHAR, app_id VARCHAR)"
    )
    con.execute("CREATE TABLE countries (code VARCHAR, name VARCHAR)")
    for seed, app in enumerate((TENANT, OTHER_TENANT)):
        rng = random.Random(seed + 7)
        events = _events(app, rng, 240)
        users = [
            (f"u{k}", rng.choice(["free", "pro"]), rng.choice(["DE", "US"]), app)
            for k in range(1, 13)
        ]
        if app in apps:
            con.executemany("INSERT INTO events VALUES (" + ", ".join(["?"] * 13) + ")", events)
            con.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", users)
    con.executemany(
        "INSERT INTO countries VALUES (?, ?)", [("DE", "Germany"), ("US", "United States")]
    )
    return con


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    """Result rows as a sorted multiset, floats rounded: order- and summation-insensitive."""
    return sorted((tuple(_plain(v) for v in row) for row in con.execute(sql).fetchall()), key=repr)


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return (
            value
            if math.isnan(value) or value == 0
            else round(value, 6 - math.floor(math.log10(abs(value))))
        )
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value
