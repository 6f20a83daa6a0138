"""The warehouse package's root exception; pyarrow and engine errors are translated into it."""

from __future__ import annotations

from causality.errors import CausalityError


class WarehouseError(CausalityError):
    code = "warehouse_error"


class LayoutError(WarehouseError):
    code = "bad_layout"


class InvalidEvent(WarehouseError):
    """An incoming event that cannot become a row; ``code`` says why."""

    code = "invalid_event"
