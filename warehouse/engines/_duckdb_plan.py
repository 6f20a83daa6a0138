"""The DuckDB engine's reading of its own plans: how many rows a query handles, for the cost
estimate (a cross or non-equi join handles the product of its inputs), and the gate that lets
a query that ran out of memory rerun alone."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any


class Gate:
    """Holds new queries back while one that ran out of memory reruns alone."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._closed = False

    def enter(self, deadline: float) -> bool:
        """Wait until the gate is open; False if the deadline came first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._closed,
                                       timeout=max(deadline - time.monotonic(), 0.0))

    @contextlib.contextmanager
    def closed(self) -> Iterator[None]:
        with self._cond:
            self._closed = True
        try:
            yield
        finally:
            with self._cond:
                self._closed = False
                self._cond.notify_all()


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from walk(item)
    elif isinstance(node, dict):
        yield node
        yield from walk(node.get("children", []))


# Joins that pair every row of one input with every row of the other (no equality to hash
# on): their work is the product of their inputs, whatever DuckDB expects them to return.
PRODUCT_JOINS = ("CROSS_PRODUCT", "NESTED_LOOP_JOIN", "PIECEWISE_MERGE_JOIN", "IE_JOIN",
                 "BLOCKWISE_NL_JOIN")
# DuckDB estimates UNNEST at its input's rows (1 for a constant list): the size is unknown.
UNKNOWN_SIZE = ("UNNEST",)
# Operators whose output is bounded whatever their input's size.
BOUNDING = ("UNGROUPED_AGGREGATE", "LIMIT", "STREAMING_LIMIT", "TOP_N")
UNKNOWN = -1


def plan_rows(plan: Any) -> int:
    """The most rows one operator of the plan handles: a scan's, another operator's
    estimate, or a product join's inputs multiplied; `UNKNOWN` when a product join has
    an input of unknown size."""
    peak = 0

    def visit(node: dict[str, Any]) -> int | None:  # the node's output rows, None: unknown
        nonlocal peak
        kids = [visit(child) for child in node.get("children", [])]
        name = str(node.get("name", ""))
        own = _estimated(node)
        if any(join in name for join in PRODUCT_JOINS):
            if any(k is None for k in kids):
                raise _UnknownProduct
            work = 1
            for k in kids:
                work *= max(k or 0, 1)
            peak = max(peak, work)
            out: int | None = own if own is not None else work
        elif any(u in name for u in UNKNOWN_SIZE) or (
                any(k is None for k in kids) and name not in BOUNDING):
            out = None
        else:
            out = own if own is not None else max((k or 0 for k in kids), default=0)
        peak = max(peak, out or 0)
        return out

    try:
        for root in plan if isinstance(plan, list) else [plan]:
            visit(root)
    except _UnknownProduct:
        return UNKNOWN
    return peak


class _UnknownProduct(Exception):
    pass


def _estimated(node: dict[str, Any]) -> int | None:
    raw = node.get("extra_info", {}).get("Estimated Cardinality")
    try:
        return None if raw is None else int(raw)
    except (TypeError, ValueError):
        return None


def card(node: dict[str, Any]) -> int:
    try:
        return int(node.get("extra_info", {}).get("Estimated Cardinality", 0))
    except (TypeError, ValueError):
        return 0
