"""The client behind the public Python API (:mod:`causality.api`, which adds ``connect``).

    from causality.api import connect, Trend, DateRange

    with connect(app_id="shop") as cz:
        table = cz.query("SELECT event_type, count(*) AS n FROM events GROUP BY 1")
        cz.chart(table)

Every query is Trino-dialect SQL that goes through the guardrails (read-only, known tables,
tenant filter, row cap, cost check) under the client's tenant scope, and is audited in the
metadata store with source ``notebook``. Refusals and engine failures are raised unchanged:
they are `CausalityError`s carrying a stable ``code`` and a ``hint``.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

import pyarrow as pa

from causality.errors import CausalityError
from charts import ChartSpec, auto_spec, problems, to_figure
from guardrails import Rejected
from guardrails.execute import execute
from warehouse.engines import EngineError
from warehouse.layout import validate_app_id
from workspace.errors import AccessDenied
from workspace.insights import (
    Breakdown,
    DateRange,
    Filter,
    Funnel,
    FunnelStep,
    Insight,
    Retention,
    Stickiness,
    TopEvents,
    Trend,
    compile_insight,
)
from workspace.service import Workspace

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "Breakdown",
    "CausalityError",
    "ChartSpec",
    "Client",
    "DateRange",
    "EngineError",
    "Filter",
    "Funnel",
    "FunnelStep",
    "Rejected",
    "Retention",
    "Stickiness",
    "TopEvents",
    "Trend",
]


class Client:
    """A guarded, audited connection to the configured engine, under one tenant scope.

    Build it with `connect`; close it (or use ``with``) to release the engine.
    """

    def __init__(self, workspace: Workspace, *, actor: str, app_id: str | None = None,
                 owns_workspace: bool = False):
        self.workspace = workspace
        self.actor = actor
        self.app_id = None if app_id is None else validate_app_id(app_id)
        self._owns = owns_workspace

    def query(self, sql: str, *, app_id: str | None = None) -> pa.Table:
        """Run ``sql`` (Trino dialect) through the guardrails; the result table.

        ``app_id`` narrows an unscoped client to one app; a scoped client cannot widen or
        change its scope. Raises `Rejected` or `EngineError` (both `CausalityError`).
        """
        return self._run(sql, app_id=app_id, question=None)

    def insight(self, model: Insight, *, app_id: str | None = None) -> pa.Table:
        """Compile a typed insight (`Trend`, `Funnel`, `Retention`, ...) and run it."""
        sql = compile_insight(model)
        return self._run(sql, app_id=app_id, question=f"({model.kind} insight)")

    def chart(self, table: pa.Table, spec: ChartSpec | None = None,
              insight: str | None = None) -> go.Figure:
        """The plotly figure for ``table``: drawn from ``spec``, or picked automatically.

        As on dashboards, a spec naming columns the table lacks falls back to the automatic
        choice (keeping its title); ``insight`` (e.g. ``"funnel"``) guides that choice.
        """
        if spec is None or problems(spec, table):
            spec = auto_spec(table, insight, title=spec.title if spec is not None else "")
        return to_figure(spec, table)

    def catalog(self) -> pa.Table:
        """What may be queried: one row per table and column, with its Trino type."""
        tables = self.workspace.engine.catalog(samples=False).tables
        rows = [(t, c, typ) for t, columns in sorted(tables.items())
                for c, typ in columns.items()]
        return pa.table({"table": [r[0] for r in rows], "column": [r[1] for r in rows],
                         "type": [r[2] for r in rows]})

    def close(self) -> None:
        """Release the engine (and the metadata store, when this client opened it)."""
        if self._owns:
            self.workspace.close()
            self.workspace.db.dispose()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        scope = self.app_id or "all apps"
        return f"<causality Client {self.actor} on {self.workspace.settings.query.engine}, {scope}>"

    def _run(self, sql: str, *, app_id: str | None, question: str | None) -> pa.Table:
        scope = self._scope(app_id)
        ws = self.workspace
        done = execute(sql, engine=ws.engine, policy=ws.policy(scope), actor=self.actor,
                       source="notebook", audit=ws.audit, question=question,
                       limiter=ws.limiter)
        return done.table

    def _scope(self, wanted: str | None) -> str | None:
        if wanted is None:
            return self.app_id
        validate_app_id(wanted)
        if self.app_id is not None and wanted != self.app_id:
            raise AccessDenied(f"this client may only see app {self.app_id}, not {wanted}",
                               hint=f"leave app_id out, or connect(app_id={wanted!r})")
        return wanted
