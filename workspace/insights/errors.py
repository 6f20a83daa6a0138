"""The insights package's root exception."""

from __future__ import annotations

from causality.errors import CausalityError


class InsightError(CausalityError):
    """An insight that cannot be compiled (it validated, but does not make sense as asked)."""

    code = "bad_insight"
