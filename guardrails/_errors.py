"""The package's exception tree: one root, one rejection type with a stable code."""

from __future__ import annotations

from typing import Any

from causality.errors import CausalityError

_FACTS = ("table", "column", "function", "line", "col")


class GuardrailError(CausalityError):
    """Root of every exception raised by `guardrails` (a `CausalityError`: code, hint)."""


class Rejected(GuardrailError):
    """A query the policy refuses.

    `code` is a stable snake_case string (safe to branch on and to show in an API);
    `message` states the fact, `hint` suggests a fix. `table`, `column`, `function`,
    `line` and `col` carry the facts a client may want to highlight; they are the error's
    `facts` too, so `to_dict` and ``str`` are those of every `CausalityError`.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        table: str | None = None,
        column: str | None = None,
        function: str | None = None,
        line: int | None = None,
        col: int | None = None,
    ) -> None:
        super().__init__(message, code=code, hint=hint or "", table=table, column=column,
                         function=function, line=line, col=col)

    # The facts, read from `facts` (one copy, so `to_dict` and the attributes always agree).
    @property
    def table(self) -> str | None:
        return self.facts.get("table")

    @property
    def column(self) -> str | None:
        return self.facts.get("column")

    @property
    def function(self) -> str | None:
        return self.facts.get("function")

    @property
    def line(self) -> int | None:
        return self.facts.get("line")

    @property
    def col(self) -> int | None:
        return self.facts.get("col")

    def __repr__(self) -> str:
        return f"Rejected({self.to_dict()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        facts = {name: getattr(self, name) for name in _FACTS}
        return (_rebuild, (self.code, self.message, self.hint, facts))


def _rebuild(code: str, message: str, hint: str | None, facts: dict[str, Any]) -> Rejected:
    return Rejected(code, message, hint=hint, **facts)
