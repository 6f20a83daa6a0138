"""marimo notebooks: any answer or dashboard exported as a notebook that re-runs the same
guarded queries through the public Python API (``causality.api``) and redraws the same charts.
The starter notebook for analysts who prefer code is ``causality/explore.py``."""

from workspace.notebooks.export import NotebookError, NotebookQuery, notebook_source

__all__ = ["NotebookError", "NotebookQuery", "notebook_source"]
