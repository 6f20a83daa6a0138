"""The insights package's root exception."""

from __future__ import annotations

from workspace.errors import WorkspaceError


class InsightError(WorkspaceError):
    """An insight that cannot be compiled (it validated, but does not make sense as asked)."""

    code = "bad_insight"
