"""Execution accuracy: do two result tables hold the same answer?

Rows are compared as multisets (order ignored), column names are ignored, and numbers are
equal within a relative/absolute tolerance. Each gold column must match a distinct column
of the answer with the same values; the answer may carry extra columns (a ratio next to
the counts asked for is still the right answer). Timestamps at midnight equal their date
written as text, so ``date_trunc('day', event_time)`` and ``dt`` agree.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

REL_TOL = 1e-4
ABS_TOL = 1e-6
MAX_ASSIGNMENTS = 2_000
GREEDY_MAX_ROWS = 2_000

Cell = None | bool | float | str


@dataclass(frozen=True)
class Match:
    ok: bool
    reason: str


def normalize(value: Any) -> Cell:
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(value, datetime):
        moment: datetime = value
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        if moment.time() == datetime.min.time():
            return moment.date().isoformat()
        return moment.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def same(a: Cell, b: Cell, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    return a == b


def _key(cell: Cell) -> tuple[int, Any]:
    if cell is None:
        return (0, 0)
    if isinstance(cell, bool):
        return (1, cell)
    if isinstance(cell, float):
        return (2, float(f"{cell:.4g}"))
    return (3, cell)


def _columns(table: pa.Table) -> list[list[Cell]]:
    return [[normalize(v) for v in table.column(i).to_pylist()] for i in range(table.num_columns)]


def _same_multiset(a: Sequence[tuple[Cell, ...]], b: Sequence[tuple[Cell, ...]],
                   rel_tol: float, abs_tol: float) -> bool:
    if len(a) != len(b):
        return False

    def row_key(row: tuple[Cell, ...]) -> tuple[tuple[int, Any], ...]:
        return tuple(_key(c) for c in row)

    def rows_same(x: tuple[Cell, ...], y: tuple[Cell, ...]) -> bool:
        return all(same(p, q, rel_tol, abs_tol) for p, q in zip(x, y, strict=True))

    left, right = sorted(a, key=row_key), sorted(b, key=row_key)
    if all(rows_same(x, y) for x, y in zip(left, right, strict=True)):
        return True
    if len(a) > GREEDY_MAX_ROWS:
        return False
    unused = list(right)  # rounding in the sort key can misplace near-equal numbers
    for row in left:
        for i, candidate in enumerate(unused):
            if rows_same(row, candidate):
                del unused[i]
                break
        else:
            return False
    return True


def compare(gold: pa.Table, answer: pa.Table, *, rel_tol: float = REL_TOL,
            abs_tol: float = ABS_TOL, allow_extra_columns: bool = True) -> Match:
    """Whether `answer` holds the same result set as `gold` (see the module docstring)."""
    if gold.num_rows != answer.num_rows:
        return Match(False, f"row count differs: gold {gold.num_rows}, answer {answer.num_rows}")
    if gold.num_rows == 0:
        return Match(True, "both empty")
    if answer.num_columns < gold.num_columns:
        return Match(False, f"answer has {answer.num_columns} columns, gold {gold.num_columns}")
    if not allow_extra_columns and answer.num_columns != gold.num_columns:
        return Match(False, f"answer has {answer.num_columns} columns, gold {gold.num_columns}")
    g_cols, a_cols = _columns(gold), _columns(answer)
    candidates: list[list[int]] = []
    for gi, g in enumerate(g_cols):
        found = [ai for ai, a in enumerate(a_cols)
                 if _same_multiset([(c,) for c in g], [(c,) for c in a], rel_tol, abs_tol)]
        if not found:
            return Match(False, f"no answer column has the values of gold column "
                                f"{gold.column_names[gi]!r}")
        candidates.append(found)
    gold_rows = list(zip(*g_cols, strict=True))
    for assignment in itertools.islice(_assignments(candidates), MAX_ASSIGNMENTS):
        answer_rows = list(zip(*(a_cols[i] for i in assignment), strict=True))
        if _same_multiset(gold_rows, answer_rows, rel_tol, abs_tol):
            return Match(True, "same rows")
    return Match(False, "every column matches on its own, but the rows differ")


def _assignments(candidates: list[list[int]]) -> Iterator[list[int]]:
    """Injective choices of one answer column per gold column, depth first."""
    chosen: list[int] = []

    def walk(i: int) -> Iterator[list[int]]:
        if i == len(candidates):
            yield list(chosen)
            return
        for column in candidates[i]:
            if column not in chosen:
                chosen.append(column)
                yield from walk(i + 1)
                chosen.pop()

    return walk(0)
