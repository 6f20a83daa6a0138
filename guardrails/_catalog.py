"""The analyst-visible catalog, normalised once and cached with its sqlglot schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from sqlglot.schema import MappingSchema

from guardrails._errors import GuardrailError

CATALOG_CACHE_SIZE = 64

CatalogInput = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, eq=False)
class Catalog:
    """Table name -> {column -> Trino type}, names lower-cased (Trino resolves identifiers
    case-insensitively, quoted or not), plus the sqlglot schema built from it."""

    tables: Mapping[str, Mapping[str, str]]
    schema: MappingSchema


def load_catalog(catalog: CatalogInput) -> Catalog:
    """Normalise `catalog`; equal catalogs share one cached `Catalog`."""
    key = tuple((table, tuple(columns.items())) for table, columns in catalog.items())
    return _build(key)


@lru_cache(maxsize=CATALOG_CACHE_SIZE)
def _build(key: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]) -> Catalog:
    tables: dict[str, dict[str, str]] = {}
    for table, columns in key:
        name = table.lower()
        if name in tables:
            raise GuardrailError(f"catalog names table {name!r} twice (names are case-insensitive)")
        lowered = {column.lower(): type_ for column, type_ in columns}
        if len(lowered) != len(columns):
            raise GuardrailError(f"catalog table {name!r} names a column twice")
        tables[name] = lowered
    mapping: dict[str, object] = dict(tables)
    return Catalog(tables=tables, schema=MappingSchema(mapping, dialect="trino", normalize=False))
