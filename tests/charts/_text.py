"""Reading text out of a figure's JSON, for the escaping tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def strings(node: Any) -> Iterator[str]:
    """Every string in a JSON-like value (a figure's data and layout)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
