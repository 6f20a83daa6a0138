"""The charts package's root exception."""

from __future__ import annotations

from causality.errors import CausalityError


class ChartError(CausalityError):
    """A chart spec that cannot be drawn from the table it was given."""

    code = "bad_chart"
