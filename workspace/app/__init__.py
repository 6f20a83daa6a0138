"""The Streamlit workspace: pages in ``views/``, shared page parts in ``_*.py``.

`run(factory)` is one run of the app in a process whose `Workspace` comes from ``factory``
(the composition root's ``causality/workspace_app.py`` is the script Streamlit runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workspace.service import Workspace

__all__ = ["run"]


def run(factory: Callable[[], Workspace]) -> None:
    """Render the app once, building (or reusing) this process's `Workspace` with ``factory``."""
    from workspace.app._context import set_workspace_factory
    from workspace.app.main import render

    set_workspace_factory(factory)
    render()
