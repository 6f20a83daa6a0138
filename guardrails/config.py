"""The ``[guardrails]`` settings section: every knob of the :class:`~guardrails.Policy` that
may be configured.

The row cap and timeout of a run stay in ``[query]`` (``query.max_rows``, ``query.timeout_s``);
:meth:`GuardrailsSettings.policy` is the one place settings become a policy. Settings can only
make the guardrails stricter where the security boundary is concerned: the events table is
always tenant-filtered, and the built-in function deny lists cannot be lifted (the policy's
``function_allowlist``, which exempts names from them, is for code, not configuration).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from causality.section import Section
from guardrails._policy import (
    DEFAULT_MAX_SCAN_BYTES,
    DEFAULT_MAX_SCAN_ROWS,
    DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_MAX_VALUE_GROWTH,
    MAX_AST_NODES,
    MAX_DEPTH,
    MAX_SQL_CHARS,
    Policy,
)


class GuardrailsSettings(Section):
    """How strict the SQL guardrails are and what a query may cost (README: Guardrails)."""

    mode: Literal["enforce", "warn"] = Field(
        "enforce", description="warn relaxes only unknown columns and an unusable LIMIT")
    max_sql_chars: int = Field(MAX_SQL_CHARS, gt=0, description="longest query text")
    max_ast_nodes: int = Field(MAX_AST_NODES, gt=0, description="largest parsed query")
    max_depth: int = Field(MAX_DEPTH, gt=0, description="deepest nesting of a query")
    tenant_column: str = Field("app_id", min_length=1,
                               description="the column the tenant filter compares")
    tenant_tables: frozenset[str] = Field(frozenset({"events"}),
                                          description="tables the tenant filter wraps; always "
                                                      "events, plus any others")
    function_denylist: frozenset[str] = Field(frozenset(),
                                              description="functions refused on top of the "
                                                          "built-in deny lists")
    max_value_bytes: int = Field(DEFAULT_MAX_VALUE_BYTES, gt=0,
                                 description="largest value one row of a query may build")
    max_value_growth: int = Field(DEFAULT_MAX_VALUE_GROWTH, gt=0,
                                  description="column values one built value may hold")
    max_scan_bytes: int | None = Field(DEFAULT_MAX_SCAN_BYTES, gt=0,
                                       description="estimated bytes a query may read")
    max_scan_rows: int | None = Field(DEFAULT_MAX_SCAN_ROWS, gt=0,
                                      description="estimated rows a query may read")
    unknown_estimate: Literal["strict", "reject", "run"] = Field(
        "strict", description="no estimate: run under the strict caps, refuse, or run")
    strict_timeout_s: float = Field(10.0, gt=0, description="timeout without an estimate")
    strict_max_rows: int = Field(1_000, gt=0, description="row cap without an estimate")
    queries_per_minute: int | None = Field(120, gt=0, description="per person; none = no limit")

    @field_validator("tenant_tables")
    @classmethod
    def _events_stay_filtered(cls, value: frozenset[str]) -> frozenset[str]:
        if "events" not in {name.lower() for name in value}:
            raise ValueError("must include events: a scoped person's queries always read only "
                             "their app's events")
        return value

    def policy(self, *, max_rows: int, timeout_s: float,
               tenant_app_id: str | None = None) -> Policy:
        """The policy these settings give, for a run capped at ``max_rows`` and ``timeout_s``
        and, with ``tenant_app_id``, filtered to that app."""
        return Policy(**self.model_dump(), max_rows=max_rows, timeout_s=timeout_s,
                      tenant_app_id=tenant_app_id)
