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
    `line` and `col` carry the facts a client may want to highlight.
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
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint or ""
        self.table = table
        self.column = column
        self.function = function
        self.line = line
        self.col = col

    def to_dict(self) -> dict[str, Any]:
        """The JSON error shape: code, message, hint, plus whichever facts are known."""
        out: dict[str, Any] = {"code": self.code, "message": self.message, "hint": self.hint}
        for name in _FACTS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" + (f" ({self.hint})" if self.hint else "")

    def __repr__(self) -> str:
        return f"Rejected({self.to_dict()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        facts = {name: getattr(self, name) for name in _FACTS}
        return (_rebuild, (self.code, self.message, self.hint, facts))


def _rebuild(code: str, message: str, hint: str | None, facts: dict[str, Any]) -> Rejected:
    return Rejected(code, message, hint=hint, **facts)
