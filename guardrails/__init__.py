"""SQL policy for Causality: every query passes `check` before an engine runs it.

`check(sql, catalog, policy)` parses Trino SQL and runs `RULES` in order over a shared
context; it returns a `CheckedQuery` (final Trino SQL, its DuckDB transpilation, the
tables and columns read, the rewrites made) or raises `Rejected` (a `GuardrailError`)
with a stable `code`, a `message`, a `hint` and facts (`table`, `column`, `function`).

Rules, and the codes they raise:

1. ``parse`` - fail closed: unparseable text or a NUL byte -> ``parse_error``; more than
   ``max_sql_chars`` -> ``too_long``; more than ``max_ast_nodes`` tokens or nodes, brackets
   or the tree deeper than ``max_depth``, or shapes that make the parser blow up -> ``too_complex``.
2. ``single_statement`` - ``empty_query``, ``multiple_statements`` (a trailing ``;`` or
   comment is fine).
3. ``read_only`` - the root is a SELECT or set operation (WITH allowed); no node anywhere
   writes, changes session state or is a command (``WITH x AS (DELETE ...)``, ``SELECT INTO``,
   ``FOR UPDATE``, CALL, SET, USE, COPY, PRAGMA, EXPLAIN, ...) -> ``not_read_only``.
4. ``known_tables`` - every table reference is resolved in its own scope: a CTE visible at
   that point (earlier WITH queries of the same clause, enclosing queries' WITH; itself only
   under RECURSIVE) or a bare catalog name (``events``; identifiers are case-insensitive, as
   in Trino, so ``"EVENTS"`` is ``events``); subqueries, UNNEST and VALUES are fine.
   Qualified names (``system.runtime.queries``, ``lake.analytics.events``), system tables and
   file paths -> ``forbidden_table``; table functions -> ``forbidden_function``; other names ->
   ``unknown_table`` with the closest name as hint; one name twice in a WITH ->
   ``duplicate_cte``. A CTE named like a catalog table hides it where visible and is renamed
   in the SQL that runs (change ``cte_renamed``).
5. ``known_columns`` - each column resolves -> ``unknown_column`` ("did you mean user_id?"),
   ``ambiguous_column``, ``invalid_reference``; engine-hidden ``"$path"`` -> ``forbidden_column``.
6. ``functions`` - the deny list of the policy's ``dialect`` (every engine's for an unknown
   one) plus policy extras -> ``forbidden_function``.
7. ``bounded`` - every value the query builds has a size bound from its literals (DuckDB
   does not count a row's values against its memory limit): the count, width or range of
   ``repeat``, ``lpad``/``rpad``, ``space``, ``sequence``/``range``/``generate_series``,
   ``list_resize``, ``format``/``printf`` widths, ... must be literals -> else
   ``unbounded_function`` (also for a list of data size each of whose elements copies a
   column, or a ``reduce`` that copies its accumulator twice); a value over
   ``max_value_bytes`` (a list counts 8 bytes per element) or holding more than
   ``max_value_growth`` column values -> ``value_too_large``; a recursive CTE whose values
   grow each round -> ``unbounded_recursion``.
8. ``tenant_filter`` - with ``tenant_app_id`` set, every reference to a tenant table (the
   policy's ``tenant_tables`` plus, failing closed, any table with the tenant column) becomes
   ``(SELECT * FROM events WHERE app_id = '<tenant>') AS <same name>``; change ``tenant_filter``.
   A tenant table without the column -> ``tenant_column_missing``; table syntax the wrapper
   cannot carry -> ``tenant_filter_unsupported``.
9. ``limit`` - the outermost LIMIT is injected or clamped to ``max_rows`` (changes
   ``limit_injected``/``limit_clamped``); a non-literal LIMIT -> ``invalid_limit``.

``Policy.mode="warn"`` turns only the advisory codes (``unknown_column``,
``ambiguous_column``, ``invalid_reference``, ``invalid_limit``) into
``CheckedQuery.warnings``; parsing, statements, read-only, tables, functions, value bounds
and the tenant filter always enforce. Anything unexpected inside a rule -> ``internal_error``.

The SQL that runs is always regenerated from the checked tree, never the text received,
so what was analysed is what runs; comments are dropped. ``duckdb_sql`` keeps Trino's
meaning of ``date_diff`` (whole units elapsed); for Trino's integer division a DuckDB
connection must set ``integer_division = true``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guardrails._errors import GuardrailError, Rejected
from guardrails._policy import Policy
from guardrails._result import CheckedQuery

if TYPE_CHECKING:
    from guardrails._check import check
    from guardrails._rules import RULES

__all__ = ["RULES", "CheckedQuery", "GuardrailError", "Policy", "Rejected", "check"]


def __getattr__(name: str) -> Any:
    """`check` and `RULES` load sqlglot and the rules on first use, so reading the policy
    and its settings section (every process does, at start) stays light."""
    if name == "check":
        from guardrails._check import check

        return check
    if name == "RULES":
        from guardrails._rules import RULES

        return RULES
    raise AttributeError(f"module 'guardrails' has no attribute {name!r}")
