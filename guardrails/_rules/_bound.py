"""A bound on the size of one value, affine in a few unknowns, and the facts about it.

`v` stands for the largest value a column holds; `agg` for the largest collection an
aggregate builds (the engine counts those against its memory limit); while a lambda's body
is analysed, each parameter is an unknown of its own. A product of two unknowns has no
affine bound: the analysis raises `Unbounded` for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlglot import exp

from guardrails._hints import function_name

COLUMN = "v"
AGGREGATE = "agg"
ELEMENT_BYTES = 8  # what a list element costs at least (an integer, a string's header)
NUMBER_BYTES = 16


@dataclass(frozen=True)
class Bound:
    """At most ``const + sum(coefficient * unknown)`` bytes."""

    const: float = 0.0
    terms: tuple[tuple[str, float], ...] = ()

    @staticmethod
    def of(const: float = 0.0, **terms: float) -> Bound:
        return _make(const, terms)

    def coefficient(self, symbol: str) -> float:
        return dict(self.terms).get(symbol, 0.0)

    @property
    def constant(self) -> bool:
        return not self.terms

    def __add__(self, other: Bound) -> Bound:
        merged = dict(self.terms)
        for name, k in other.terms:
            merged[name] = merged.get(name, 0.0) + k
        return _make(self.const + other.const, merged)

    def scale(self, factor: float) -> Bound:
        return _make(self.const * factor, {n: k * factor for n, k in self.terms})

    def join(self, other: Bound) -> Bound:
        """The larger of two bounds, unknown by unknown."""
        merged = dict(self.terms)
        for name, k in other.terms:
            merged[name] = max(merged.get(name, 0.0), k)
        return _make(max(self.const, other.const), merged)

    def covers(self, other: Bound) -> bool:
        mine = dict(self.terms)
        return self.const >= other.const and all(mine.get(n, 0.0) >= k for n, k in other.terms)

    def split(self, symbols: Iterable[str]) -> tuple[dict[str, float], Bound]:
        """(coefficients of `symbols`, the rest of the bound)."""
        wanted = set(symbols)
        picked = {n: k for n, k in self.terms if n in wanted}
        return picked, _make(self.const, {n: k for n, k in self.terms if n not in wanted})


def _make(const: float, terms: dict[str, float]) -> Bound:
    return Bound(float(const), tuple(sorted((n, float(k)) for n, k in terms.items() if k)))


ZERO = Bound()
DATA = Bound.of(**{COLUMN: 1.0})
NUMBER = Bound.of(NUMBER_BYTES)
FLAG = Bound.of(1)


def display_name(node: exp.Expr) -> str:
    """The function as written (only computed for a refusal: it renders the node)."""
    return function_name(node) if isinstance(node, exp.Func) else "||"


@dataclass(frozen=True)
class Built:
    """A value a function (`node`) builds: its bound and, for generators, its length."""

    node: exp.Expr
    bound: Bound
    elements: int | None = None

    @property
    def function(self) -> str:
        return display_name(self.node)


class Unbounded(Exception):
    """No bound exists: a non-literal count, a product of unknowns, a growing recursion.

    ``{f}`` in `message` and `hint` stands for the function (or CTE) `about`."""

    def __init__(self, code: str, about: exp.Expr | str, message: str, hint: str) -> None:
        self.function = about if isinstance(about, str) else display_name(about)
        self.code = code
        self.message = message.replace("{f}", self.function)
        self.hint = hint.replace("{f}", self.function)
        super().__init__(self.message)


def widest(bounds: Iterable[Bound]) -> Bound:
    out = ZERO
    for b in bounds:
        out = out.join(b)
    return out
