"""What the model is told about the data: the exact catalog, sample values, JSON keys.

Columns and types come from `engine.catalog()`. Its sample values are read across all apps,
so under a tenant scope they are replaced by the tenant's own: event types and categories
from a guarded query, the tenant column by the tenant alone (the names of other apps and
their events never reach the prompt). The days with data, and the keys of the JSON
``properties`` column with a few values each, come from guarded queries too: they see only
the tenant's rows and are audited like any other.

All of it is written by whoever holds the app's write key: keys that are not plain
identifiers are left out here (and counted); `prompt` fences, escapes and caps the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from guardrails import Policy, Rejected
from guardrails.execute import AuditSink, execute
from warehouse.engines import DEFAULT_SAMPLE_VALUES, CatalogInfo, Engine, EngineError
from workspace.analyst.fence import clip, is_identifier

SAMPLE_DAYS = 30
SAMPLE_ROWS = 500
MAX_KEYS = 40  # property keys shown
MAX_KEY_VALUES = 8  # example values per key
MAX_VALUE_CHARS = 40  # per example value
SUMMARY_SQL = ("SELECT event_type, category, min(dt) AS first_day, max(dt) AS last_day, "
               "count(*) AS events FROM events GROUP BY event_type, category "
               "ORDER BY events DESC LIMIT 1000")


@dataclass(frozen=True)
class DataContext:
    catalog: CatalogInfo
    #: properties key -> "number" | "text" and a few distinct values
    property_keys: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    #: first and last ``dt`` with events, when known
    extent: tuple[str, str] | None = None
    #: distinct keys seen but left out: not plain identifiers, or beyond `MAX_KEYS`
    omitted_keys: int = 0

    @property
    def event_types(self) -> list[str]:
        return list(self.catalog.samples.get("events", {}).get("event_type", []))


def describe(engine: Engine, policy: Policy, *, actor: str, today: date,
             audit: AuditSink | None = None) -> DataContext:
    """The catalog (sample values scoped to the tenant), the days that have data, and the
    JSON keys seen in the last `SAMPLE_DAYS` days."""
    catalog = engine.catalog()
    columns = catalog.tables.get("events", {})
    summary: list[dict[str, Any]] = []
    if {"event_type", "category", "dt"} <= set(columns):
        summary = _rows(SUMMARY_SQL, engine, policy, actor, audit,
                        "(event types and days with data, for the prompt)")
    extent = None
    if summary:
        extent = (min(str(r["first_day"]) for r in summary),
                  max(str(r["last_day"]) for r in summary))
    if policy.tenant_app_id is not None:
        catalog = _scoped(catalog, policy, summary)
    keys: dict[str, tuple[str, list[str]]] = {}
    omitted = 0
    if {"properties", "dt"} <= set(columns):
        since = (today - timedelta(days=SAMPLE_DAYS)).isoformat()
        rows = _rows(f"SELECT properties FROM events WHERE dt >= '{since}' AND properties IS "
                     f"NOT NULL LIMIT {SAMPLE_ROWS}", engine, policy, actor, audit,
                     "(sample of property keys, for the prompt)")
        keys, omitted = property_keys([r["properties"] for r in rows])
    return DataContext(catalog, keys, extent, omitted)


def has_all_event_types(context: DataContext) -> bool:
    """Whether the sample lists every event type (the engine caps its samples)."""
    return 0 < len(context.event_types) < DEFAULT_SAMPLE_VALUES


def _scoped(catalog: CatalogInfo, policy: Policy, summary: list[dict[str, Any]]) -> CatalogInfo:
    samples: dict[str, dict[str, list[str]]] = {}
    for table, columns in catalog.tables.items():
        mine: dict[str, list[str]] = {}
        if policy.tenant_column in columns and policy.tenant_app_id is not None:
            mine[policy.tenant_column] = [policy.tenant_app_id]
        if table == "events" and summary:
            for column in ("event_type", "category"):
                values = list(dict.fromkeys(str(r[column]) for r in summary))
                mine[column] = values[:DEFAULT_SAMPLE_VALUES]
        samples[table] = mine
    return CatalogInfo(tables=catalog.tables, samples=samples)


def _rows(sql: str, engine: Engine, policy: Policy, actor: str, audit: AuditSink | None,
          purpose: str) -> list[dict[str, Any]]:
    try:
        run = execute(sql, engine=engine, policy=policy, actor=actor, source="chat", audit=audit,
                      question=purpose)
    except (Rejected, EngineError):
        return []
    rows: list[dict[str, Any]] = run.table.to_pylist()
    return rows


def property_keys(documents: list[str | None]
                  ) -> tuple[dict[str, tuple[str, list[str]]], int]:
    """Keys that are plain identifiers (at most `MAX_KEYS`) with their kind and a few
    values each, and how many distinct keys were left out."""
    kinds: dict[str, set[str]] = {}
    values: dict[str, list[str]] = {}
    omitted: set[str] = set()
    for text in documents:
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        for key, value in doc.items():
            if key not in kinds and (len(kinds) >= MAX_KEYS or not is_identifier(key)):
                omitted.add(key)
                continue
            kind = "number" if isinstance(value, int | float) and not isinstance(
                value, bool) else "text"
            kinds.setdefault(key, set()).add(kind)
            seen = values.setdefault(key, [])
            shown = clip(str(value), MAX_VALUE_CHARS)
            if kind == "text" and len(seen) < MAX_KEY_VALUES and shown not in seen:
                seen.append(shown)
    keys = {key: ("number" if kinds[key] == {"number"} else "text", values[key])
            for key in sorted(kinds)}
    return keys, len(omitted)
