"""The root of every error Causality shows to a person.

Each package has its own root exception deriving from :class:`CausalityError`; third-party
errors are translated into these at the package edge (STYLE.md rule 3). Every error carries a
stable ``code``, a ``message`` with the facts, and a ``hint`` that says what to do.
"""

from __future__ import annotations

from typing import Any


class CausalityError(Exception):
    """An error with a stable code, the facts, and a hint."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, hint: str = "", **facts: Any):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.hint = hint
        self.facts = facts

    def to_dict(self) -> dict[str, Any]:
        """The one JSON error shape: ``{code, message, hint}`` plus facts when there are any."""
        body: dict[str, Any] = {"code": self.code, "message": self.message, "hint": self.hint}
        body.update({k: v for k, v in self.facts.items() if v is not None})
        return body

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" + (f" (hint: {self.hint})" if self.hint else "")


class ConfigError(CausalityError):
    """A setting has a wrong value or the config file cannot be read."""

    code = "bad_setting"
