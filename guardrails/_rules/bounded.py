"""Every value a query builds is bounded in size; every generated list in length.

DuckDB counts sorts, hash tables and aggregates against its memory limit but not the values
a row's expressions build, and checks for a timeout only between chunks of 2,048 rows: one
``repeat('x', 2000000000)`` ran 30 s past a 4 s timeout and reached 2.1 GB over a 512 MB
limit. `_sizes` bounds every value from the query's literals; this rule holds the bounds to
the policy (``max_value_bytes``, ``max_value_growth``).
"""

from __future__ import annotations

from guardrails._context import Context
from guardrails._errors import Rejected
from guardrails._rules._bound import AGGREGATE, COLUMN, ELEMENT_BYTES, Built, Unbounded
from guardrails._rules._sizes import measure

# A collection an aggregate built (string_agg, array_agg) is counted by the engine once; it
# may be as large as the engine's memory, so one value may hold it at most this many times.
MAX_AGGREGATE_COPIES = 2


def bounded(ctx: Context) -> None:
    """Reject with unbounded_function, unbounded_recursion or value_too_large."""
    policy = ctx.policy

    def observe(built: Built) -> None:
        name, bound = built.function, built.bound
        if built.elements is not None and bound.const > policy.max_value_bytes:
            raise Rejected("value_too_large",
                           f"{name} would build {built.elements:,} elements, "
                           f"{bound.const:,.0f} bytes (limit {policy.max_value_bytes:,} bytes, "
                           f"{policy.max_value_bytes // ELEMENT_BYTES:,} numbers)",
                           hint="narrow the range or take a larger step", function=name)
        if bound.const > policy.max_value_bytes:
            raise Rejected("value_too_large",
                           f"{name} could build a value of {bound.const:,.0f} bytes "
                           f"(limit {policy.max_value_bytes:,})",
                           hint="use smaller counts, widths and ranges", function=name)
        copies = bound.coefficient(COLUMN)
        if copies > policy.max_value_growth:
            raise Rejected("value_too_large",
                           f"{name} could build a value {copies:,.0f} times the size of a "
                           f"column value (limit {policy.max_value_growth:,})",
                           hint="repeat or combine fewer column values into one value",
                           function=name)
        if bound.coefficient(AGGREGATE) > MAX_AGGREGATE_COPIES:
            raise Rejected("value_too_large",
                           f"{name} copies an aggregated list or string "
                           f"{bound.coefficient(AGGREGATE):,.1f} times",
                           hint="use each string_agg or array_agg result once per value",
                           function=name)

    try:
        measure(ctx.query, observe)
    except Unbounded as unbounded:
        raise Rejected(unbounded.code, unbounded.message, hint=unbounded.hint,
                       function=unbounded.function) from None
