"""marimo notebooks: any answer or dashboard exported as a notebook that re-runs the same
guarded queries through `workspace.api` and redraws the same charts; ``explore.py`` is a
starter notebook for analysts who prefer code."""

from workspace.notebooks.export import NotebookError, NotebookQuery, notebook_source

__all__ = ["NotebookError", "NotebookQuery", "notebook_source"]
