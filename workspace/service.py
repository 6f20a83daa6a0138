"""`Workspace`: everything the analyst UI (and the notebooks, and the benchmark) need, built
once from the settings: the engine, the metadata stores, the planner, and the guarded ways to
run a query. Every query goes through `guardrails.execute` under the signed-in person's name
and tenant scope; nothing here talks to storage directly.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import TYPE_CHECKING

import pyarrow as pa

from charts import TIME_SERIES_KINDS, ChartSpec, auto_spec, problems
from charts.figure import is_time
from guardrails import CheckedQuery, Policy, Rejected, check
from guardrails.execute import Execution, Source, execute
from metadata import KeyStore, VerifiedQueries, open_db
from metadata.audit import AuditLog
from metadata.dashboards import Dashboard, DashboardStore, Tile
from metadata.embeds import EmbedLinks
from metadata.ratelimit import SharedRateLimiter, SlidingWindows
from metadata.users import User, UserStore
from warehouse.engines import Engine, EngineError, Estimate
from workspace.analyst import (
    AnalystError,
    AnalystUnavailable,
    Answer,
    ChatStore,
    DataContext,
    Planner,
    Session,
    ask,
    describe,
    planner_from_settings,
)
from workspace.errors import AccessDenied
from workspace.filters import Filters
from workspace.queries import downsample_sql, needs_downsampling, restrict_dates

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as SqlEngine

    from workspace.config import WorkspaceConfig
    from workspace.reactions import ReactionsPort

CONTEXT_TTL_S = 300.0


@dataclass(frozen=True)
class TileResult:
    tile: Tile
    table: pa.Table | None
    chart: ChartSpec | None
    error: dict[str, object] | None = None
    cached: bool = False
    seconds: float = 0.0
    downsampled: bool = False


@dataclass
class _Cache:
    """Results by (sql, tenant, filters), kept `ttl_s` seconds; shared by every session."""

    ttl_s: float
    entries: dict[tuple[object, ...], tuple[float, pa.Table, bool]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[object, ...]) -> tuple[pa.Table, bool] | None:
        with self.lock:
            hit = self.entries.get(key)
            if hit is None or time.monotonic() - hit[0] > self.ttl_s:
                self.entries.pop(key, None)
                return None
            return hit[1], hit[2]

    def put(self, key: tuple[object, ...], table: pa.Table, downsampled: bool) -> None:
        if self.ttl_s > 0:
            with self.lock:
                self.entries[key] = (time.monotonic(), table, downsampled)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


class Workspace:
    """The analyst product's services. Thread-safe; one per process is enough."""

    def __init__(self, settings: WorkspaceConfig, *, engine: Engine | None = None,
                 db: SqlEngine | None = None,
                 planner: Planner | None = None, long_running: bool = True,
                 reactions: ReactionsPort | None = None):
        """``long_running``: a server that gains from DuckDB's day cache (the app); a
        script or notebook that runs a few queries and exits passes False. ``reactions``:
        the reactor's rule logic, supplied by the composition root (None: no Alerts)."""
        self.settings = settings
        self.reactions = reactions
        self._long_running = long_running
        self.db = db if db is not None else open_db(settings.metadata_db_url)
        self._engine = engine
        self._planner = planner
        self.cache = _Cache(settings.workspace.cache_ttl_s)
        self._contexts: dict[str | None, tuple[float, DataContext]] = {}
        self._lock = threading.Lock()

    # -- parts -------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self.settings.open_engine(cache=self._long_running)
            return self._engine

    @cached_property
    def users(self) -> UserStore:
        return UserStore(self.db)

    @cached_property
    def dashboards(self) -> DashboardStore:
        return DashboardStore(self.db)

    @cached_property
    def embeds(self) -> EmbedLinks:
        return EmbedLinks(self.db)

    @cached_property
    def keys(self) -> KeyStore:
        return KeyStore(self.db)

    @cached_property
    def chats(self) -> ChatStore:
        return ChatStore(self.db)

    @cached_property
    def verified(self) -> VerifiedQueries:
        return VerifiedQueries(self.db)

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.db)

    @cached_property
    def windows(self) -> SlidingWindows:
        """Sliding-window counts shared by every process on this metadata store."""
        return SlidingWindows(self.db)

    @cached_property
    def limiter(self) -> SharedRateLimiter:
        """Each person's queries per minute, counted across every workspace process."""
        return SharedRateLimiter(self.windows)

    def planner(self) -> Planner:
        """The model planner, or `AnalystUnavailable` saying how to configure one."""
        if self._planner is None:
            return planner_from_settings(self.settings.llm)
        return self._planner

    def llm_status(self) -> tuple[bool, str]:
        """(ready, a sentence saying which model, or how to set one up)."""
        try:
            self.planner()
        except AnalystUnavailable as err:
            return False, f"{err.message} — {err.hint}"
        llm = self.settings.llm
        return True, f"{llm.provider} · {llm.model}"

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()

    # -- policy ------------------------------------------------------------------------
    def policy(self, app_id: str | None) -> Policy:
        return self.settings.policy(app_id)

    @staticmethod
    def scope(user: User, wanted: str | None = None) -> str | None:
        """The tenant a query by `user` runs under: their own app if scoped, else `wanted`."""
        if user.app_id is not None:
            if wanted not in (None, user.app_id):
                raise AccessDenied(f"{user.username} may only see app {user.app_id}",
                                   hint=f"choose {user.app_id}")
            return user.app_id
        return wanted

    @staticmethod
    def require(user: User, role: str) -> None:
        if not user.can(role):  # type: ignore[arg-type]
            raise AccessDenied(f"this needs the {role} role; {user.username} is a {user.role}",
                               hint="ask an admin to change your role")

    # -- queries -----------------------------------------------------------------------
    def check(self, sql: str, app_id: str | None,
              engine: Engine | None = None) -> tuple[CheckedQuery, Estimate]:
        """The guardrails' verdict and the engine's cost estimate, without running (the
        estimate runs with the engine's own reads, never queued behind a busy source)."""
        engine = engine or self.engine
        checked = check(sql, engine.catalog(samples=False).tables,
                        self.policy(app_id).for_dialect(engine.dialect))
        return checked, engine.explain(checked.sql)

    def run_sql(self, sql: str, *, user: User, app_id: str | None = None,
                source: Source = "sql", question: str | None = None,
                engine: Engine | None = None) -> Execution:
        """Run `sql` (Trino dialect) through the guardrails as `user`; audited. `engine`
        replaces the shared one (the SQL page's own, so that Cancel stops only its query)."""
        if source == "sql":
            self.require(user, "analyst")
        return execute(sql, engine=engine or self.engine,
                       policy=self.policy(self.scope(user, app_id)), actor=user.username,
                       source=source, audit=self.audit, question=question,
                       limiter=self.limiter)

    def ask(self, question: str, session: Session, user: User) -> Answer:
        self.require(user, "analyst")
        scope = self.scope(user, session.app_id)
        policy = self.policy(scope)
        answer = ask(question, session, self.engine, policy, planner=self.planner(),
                     audit=self.audit, verified=self.verified, chats=self.chats,
                     max_attempts=self.settings.llm.max_attempts,
                     examples=self.settings.llm.examples,
                     context=self.context(scope, user.username), limiter=self.limiter)
        written = answer.attempts[-1].sql if answer.attempts else None
        if written is None:
            return answer
        points, thinned = self.chart_data(written, answer.table, answer.chart,
                                          truncated="truncated" in answer.flags, tenant=scope,
                                          actor=user.username, source="chat", question=question)
        return dataclasses.replace(answer, chart_table=points) if thinned else answer

    def context(self, app_id: str | None, actor: str) -> DataContext:
        """What the planner is told about the data, cached a few minutes per scope."""
        with self._lock:
            hit = self._contexts.get(app_id)
        if hit is not None and time.monotonic() - hit[0] < CONTEXT_TTL_S:
            return hit[1]
        ctx = describe(self.engine, self.policy(app_id), actor=actor,
                       today=datetime.now(UTC).date(), audit=self.audit)
        with self._lock:
            self._contexts[app_id] = (time.monotonic(), ctx)
        return ctx

    # -- dashboards --------------------------------------------------------------------
    def tile_scope(self, board: Dashboard, filters: Filters, user: User | None,
                   embed_app: str | None = None) -> str | None:
        """The tenant a dashboard's tiles run under, from the strongest scope present."""
        scopes = [s for s in (embed_app, user.app_id if user else None, board.app_id)
                  if s is not None]
        if len(set(scopes)) > 1:
            raise AccessDenied("this dashboard belongs to another app",
                               hint="open a dashboard of your own app")
        return scopes[0] if scopes else filters.app_id

    def run_tile(self, tile: Tile, filters: Filters, *, tenant: str | None, actor: str,
                 source: Source = "dashboard", refresh: bool = False) -> TileResult:
        """One tile's table and chart; failures come back in `error`, never raised."""
        started = time.perf_counter()
        key = (self.engine.name, tile.sql, filters.start, filters.end, tenant,
               self.settings.workspace.max_chart_points)
        hit = None if refresh else self.cache.get(key)
        try:
            if hit is None:
                sql = restrict_dates(tile.sql, filters.start, filters.end)
                run = execute(sql, engine=self.engine, policy=self.policy(tenant), actor=actor,
                              source=source, audit=self.audit, question=tile.title,
                              limiter=self.limiter)
                spec = self._spec(tile.chart, run.table, tile.insight)
                table, down = self.chart_data(sql, run.table, spec,
                                              truncated=run.result.truncated, tenant=tenant,
                                              actor=actor, source=source, question=tile.title)
                self.cache.put(key, table, down)
            else:
                table, down = hit
        except (Rejected, EngineError, AnalystError) as err:
            return TileResult(tile, None, None, err.to_dict(),
                              seconds=time.perf_counter() - started)
        return TileResult(tile, table, self._spec(tile.chart, table, tile.insight),
                          cached=hit is not None, downsampled=down,
                          seconds=time.perf_counter() - started)

    @staticmethod
    def _spec(chart: ChartSpec | None, table: pa.Table, insight: str | None) -> ChartSpec:
        if chart is None or problems(chart, table):
            return auto_spec(table, insight if insight != "sql" else None,
                             title=chart.title if chart is not None else "")
        return chart

    def chart_data(self, sql: str, table: pa.Table, spec: ChartSpec, *, truncated: bool,
                   tenant: str | None, actor: str, source: Source,
                   question: str | None = None) -> tuple[pa.Table, bool]:
        """What to draw for `table` (the result of `sql`, as written, before the guardrails):
        the result itself, or — for a time series longer than `workspace.max_chart_points`,
        or cut at the row cap — the same series averaged into time buckets by the engine,
        through the guardrails again. Never ships every point to the browser."""
        max_points = self.settings.workspace.max_chart_points
        long = needs_downsampling(spec, table, max_points) or (
            truncated and spec.kind in TIME_SERIES_KINDS and spec.x is not None
            and spec.x in table.column_names and is_time(table, spec.x))
        wrapped = downsample_sql(sql, spec, max_points=max_points) if long else None
        if wrapped is None:
            return table, False
        thinned = execute(wrapped, engine=self.engine, policy=self.policy(tenant), actor=actor,
                          source=source, audit=self.audit, question=question,
                          limiter=self.limiter)
        return thinned.table, True

    def refresh(self) -> None:
        self.cache.clear()


def today() -> date:
    return datetime.now(UTC).date()
