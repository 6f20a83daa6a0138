"""The workspace's root exception, and the errors of its shared services.

Every error the workspace raises derives from `WorkspaceError` (a `CausalityError`: a stable
code, the facts, a hint): the analyst's (`workspace.analyst.AnalystError`), the insights',
the evals', the notebooks', and these.
"""

from __future__ import annotations

from causality.errors import CausalityError


class WorkspaceError(CausalityError):
    code = "workspace_error"


class AccessDenied(WorkspaceError):
    """A person, or a client, asked for more than their role or app scope allows."""

    code = "forbidden"


class FilterError(WorkspaceError):
    """A dashboard filter that is not valid, or that cannot be applied to a tile's query."""

    code = "bad_filter"
