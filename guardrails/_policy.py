"""The policy object: every strictness knob and cap, as data (STYLE.md rule 5)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_MAX_ROWS = 10_000
MAX_SQL_CHARS = 100_000
MAX_AST_NODES = 20_000
MAX_DEPTH = 256
MAX_TENANT_ID_CHARS = 256
DEFAULT_MAX_SCAN_BYTES = 50 * 1024**3
DEFAULT_MAX_SCAN_ROWS = 5_000_000_000
# One value a query builds: DuckDB evaluates 2,048 rows at a time and does not count their
# values against its memory limit. A list counts 8 bytes per element (4,096 for sequence).
DEFAULT_MAX_VALUE_BYTES = 32 * 1024
DEFAULT_MAX_VALUE_GROWTH = 16  # column values one value may hold (repeat(col, 16), concat)


class Policy(BaseModel):
    """What `check` enforces. Frozen and hashable, so it can sit in settings and caches.

    `mode="warn"` only relaxes the advisory rules (unknown columns, unusable LIMIT);
    parsing, single statement, read-only, tables, functions and the tenant filter are
    always enforced.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["enforce", "warn"] = "enforce"
    # The sqlglot dialect the engine runs (`Engine.dialect`); `execute` sets the engine's own.
    # None (a check for no engine in particular) or a dialect without a deny list of its own
    # gets every engine's list (`functions`).
    dialect: str | None = None
    max_rows: int = Field(DEFAULT_MAX_ROWS, gt=0)
    max_sql_chars: int = Field(MAX_SQL_CHARS, gt=0)
    max_ast_nodes: int = Field(MAX_AST_NODES, gt=0)
    max_depth: int = Field(MAX_DEPTH, gt=0)
    tenant_app_id: str | None = None
    tenant_column: str = "app_id"
    tenant_tables: frozenset[str] = frozenset({"events"})
    function_denylist: frozenset[str] = frozenset()
    function_allowlist: frozenset[str] = frozenset()
    # Used by `bounded`: what one value may weigh, as bounded from the query's literals.
    max_value_bytes: int = Field(DEFAULT_MAX_VALUE_BYTES, gt=0)
    max_value_growth: int = Field(DEFAULT_MAX_VALUE_GROWTH, gt=0)
    # Used by `execute`: the cost check on the engine's estimate, run caps, rate limit.
    max_scan_bytes: int | None = Field(DEFAULT_MAX_SCAN_BYTES, gt=0)
    max_scan_rows: int | None = Field(DEFAULT_MAX_SCAN_ROWS, gt=0)
    unknown_estimate: Literal["strict", "reject", "run"] = "strict"
    timeout_s: float = Field(60.0, gt=0)
    strict_timeout_s: float = Field(10.0, gt=0)
    strict_max_rows: int = Field(1_000, gt=0)
    queries_per_minute: int | None = Field(120, gt=0)

    def for_dialect(self, dialect: str | None) -> Policy:
        """This policy for an engine that runs ``dialect`` (itself when it already is)."""
        return self if dialect == self.dialect else self.model_copy(update={"dialect": dialect})

    @field_validator("tenant_app_id")
    @classmethod
    def _printable_tenant(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value or len(value) > MAX_TENANT_ID_CHARS or not value.isprintable():
            raise ValueError(f"tenant_app_id must be 1-{MAX_TENANT_ID_CHARS} printable characters")
        return value

    @field_validator("tenant_column")
    @classmethod
    def _lower_column(cls, value: str) -> str:
        if not value:
            raise ValueError("tenant_column must not be empty")
        return value.lower()

    @field_validator("tenant_tables", "function_denylist", "function_allowlist")
    @classmethod
    def _lower_names(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(name.lower() for name in value)
