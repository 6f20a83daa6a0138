"""The rules, in the order they run. Each is a function of the shared `Context`."""

from __future__ import annotations

from guardrails._rules.bounded import bounded
from guardrails._rules.functions import functions
from guardrails._rules.known_columns import known_columns
from guardrails._rules.known_tables import known_tables
from guardrails._rules.limit import limit
from guardrails._rules.parse import parse
from guardrails._rules.read_only import read_only
from guardrails._rules.single_statement import single_statement
from guardrails._rules.tenant_filter import tenant_filter

RULES = (
    parse,
    single_statement,
    read_only,
    known_tables,
    known_columns,
    functions,
    bounded,
    tenant_filter,
    limit,
)

# Codes that warn mode reports instead of raising. Everything else always enforces.
ADVISORY_CODES = frozenset(
    {"unknown_column", "ambiguous_column", "invalid_reference", "invalid_limit"}
)

__all__ = ["ADVISORY_CODES", "RULES"]
