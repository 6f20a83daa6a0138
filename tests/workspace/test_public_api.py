"""The analyst's packages: one module per insight kind, one error root. (Their public names are
pinned with every room's in tests/test_public_api.py.)"""

from __future__ import annotations

import workspace.analyst
import workspace.evals
import workspace.insights


def test_each_insight_kind_is_a_module_named_like_it() -> None:
    kinds = workspace.insights.KINDS
    assert tuple(kinds) == workspace.insights.INSIGHT_KINDS
    assert {"trend", "funnel", "retention", "top_events", "stickiness"} <= set(kinds)
    for name, kind in kinds.items():
        assert kind.model.__module__ == f"workspace.insights.kinds.{name}"
        assert kind.name == name and kind.model.__doc__


def test_errors_share_the_root_and_codes() -> None:
    from causality.errors import CausalityError
    from workspace.errors import AccessDenied, FilterError, WorkspaceError
    from workspace.notebooks import NotebookError

    assert issubclass(WorkspaceError, CausalityError)
    for error in (workspace.analyst.AnalystError, workspace.insights.InsightError,
                  workspace.evals.EvalError, NotebookError, AccessDenied, FilterError):
        assert issubclass(error, WorkspaceError)
    assert workspace.analyst.AnalystUnavailable.code == "no_llm_provider"
    assert (AccessDenied.code, FilterError.code) == ("forbidden", "bad_filter")
