"""Each room's public API, pinned (STYLE.md rule 7): its public modules (a module whose path has
no ``_private`` part) and the names each public package exports. Changing either is a decision
made here, in one place; other rooms import only these (``tests/test_layout.py``)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.test_layout import RANKS, ROOT, module_name
from workspace.insights import KINDS

# One module per insight kind, found by the registry (a new kind touches its module only).
KIND_MODULES = {kind.model.__module__ for kind in KINDS.values()}

PUBLIC_MODULES = {
    "causality": {
        "causality.api", "causality.cli", "causality.cli.ai", "causality.cli.backlog",
        "causality.cli.config", "causality.container",
        "causality.cli.data", "causality.cli.destinations",
        "causality.cli.ingest", "causality.cli.metadata", "causality.cli.monitors",
        "causality.cli.nats", "causality.cli.notebook", "causality.cli.reactions",
        "causality.cli.reactor",
        "causality.cli.sink", "causality.cli.sql", "causality.cli.trino",
        "causality.cli.up", "causality.cli.workspace", "causality.demo_loader", "causality.errors",
        "causality.explore", "causality.reactions_port", "causality.section",
        "causality.settings", "causality.supervisor",
        "causality.wiring", "causality.workspace_app", "causality.workspace_health"},
    "metadata": {
        "metadata.audit", "metadata.chats", "metadata.dashboards", "metadata.embeds",
        "metadata.errors", "metadata.keys", "metadata.monitors", "metadata.outbox",
        "metadata.ratelimit", "metadata.reactions", "metadata.users", "metadata.verified"},
    "pipeline": {
        "pipeline.backlog", "pipeline.bus", "pipeline.compactor", "pipeline.compactor_http",
        "pipeline.config",
        "pipeline.errors", "pipeline.ingest", "pipeline.logs", "pipeline.monitors",
        "pipeline.natsd", "pipeline.probes", "pipeline.reactor", "pipeline.sink"},
    "warehouse": {
        "warehouse.config", "warehouse.demo", "warehouse.engines", "warehouse.engines.dialect",
        "warehouse.engines.duckdb_cache", "warehouse.engines.duckdb_engine",
        "warehouse.engines.trino_engine", "warehouse.errors", "warehouse.layout",
        "warehouse.schema", "warehouse.segment", "warehouse.storage", "warehouse.trino",
        "warehouse.trino.config", "warehouse.trino.fetch", "warehouse.trino.register",
        "warehouse.trino.server"},
    "guardrails": {"guardrails.config", "guardrails.execute"},
    "workspace": {
        "workspace.analyst", "workspace.analyst.ask", "workspace.analyst.context",
        "workspace.analyst.errors", "workspace.analyst.fence", "workspace.analyst.plan",
        "workspace.analyst.planner", "workspace.analyst.prompt", "workspace.analyst.rules",
        "workspace.analyst.session", "workspace.starter",
        "workspace.api", "workspace.app", "workspace.app.main", "workspace.app.views.access",
        "workspace.app.views.alerts", "workspace.app.views.chat",
        "workspace.app.views.dashboards",
        "workspace.app.views.insights", "workspace.app.views.settings", "workspace.app.views.share",
        "workspace.app.views.signin", "workspace.app.views.sql", "workspace.config",
        "workspace.errors", "workspace.evals", "workspace.evals.harness",
        "workspace.evals.questions", "workspace.evals.scoring", "workspace.filters",
        "workspace.insights", "workspace.insights.compile", "workspace.insights.errors",
        "workspace.insights.kinds",
        "workspace.notebooks", "workspace.notebooks.export",
        "workspace.queries", "workspace.queries.dates", "workspace.queries.downsample",
        "workspace.reactions", "workspace.service"},
    "charts": {"charts.errors", "charts.figure", "charts.kinds", "charts.spec", "charts.theme"},
}

EXPORTS = {
    "causality": {"CausalityError", "ConfigError", "__version__"},
    "causality.api": {
        "Breakdown", "CausalityError", "ChartSpec", "Client", "DateRange", "EngineError", "Filter",
        "Funnel", "FunnelStep", "Rejected", "Retention", "Stickiness", "TopEvents", "Trend",
        "connect"},
    "causality.cli": {"main"},
    "causality.settings": {
        "CompactorSettings", "GuardrailsSettings", "IngestSettings", "LLMSettings", "NatsSettings",
        "QuerySettings", "ReactorSettings", "Settings", "SinkSettings", "StorageSettings",
        "TrinoSettings", "WorkspaceSettings", "load_settings", "masked"},
    "metadata": {
        "ApiKey", "AttemptRow", "ChatLog", "ChatSummary", "DeadDraft", "DeadLetterRow", "Delivery",
        "DeliveryRow", "Destination", "Destinations", "DuplicateMonitor", "DuplicateRule",
        "FiringDraft", "KeyStore", "MetadataError", "MonitorAlert", "MonitorStore",
        "NewDestination", "Outbox", "Recorded", "RuleStore", "SavedState", "SchemaStatus",
        "SchemaUpgrade", "SecretUnreadable", "Settled", "StoredChat", "StoredMonitor",
        "StoredRule", "StoredTurn", "ThrottleLimit",
        "UnknownAlert", "UnknownChat", "UnknownDeadLetter", "UnknownDestination", "UnknownKey",
        "UnknownMonitor", "UnknownRule", "UnknownVerifiedQuery", "VerifiedQueries", "VerifiedQuery",
        "WrongChatScope", "open_db", "schema_status", "upgrade_schema"},
    "pipeline.ingest": {"IngestError", "STEPS", "create_app", "run", "serve"},
    "pipeline.monitors": {
        "Alert", "AlertKind", "Assessment", "Bars", "Baseline", "BreakdownValue",
        "DEFAULT_POLICY", "DetectionPolicy", "Direction", "Evaluation", "MonitorError",
        "MonitorRunner", "MonitorSpec", "MonitorState", "Reason", "Resolution", "Sensitivity",
        "Series", "Skipped", "Status", "Transition", "evaluate", "parse_monitor", "read_series",
        "score", "seasonal_baseline", "series_sql", "step"},
    "pipeline.reactor": {
        "Condition", "ConditionLimits", "DEFAULT_LIMITS", "Evaluator", "Event", "IndexHolder",
        "Indexed", "LeafCheck", "LiveRule", "Metrics", "MonitorTick", "OPERATORS", "Outcome",
        "Predicate", "Problem", "Reactor", "ReactorConfig", "ReactorError", "Rule", "RuleError",
        "RuleIndex", "RunResult", "ScopeCheck", "Throttle", "Verdict", "WebhookAction",
        "compile_conditions", "configure_logging", "event_view", "explain", "linear_candidates",
        "live_rules", "make_live", "monitor_draft", "parse_condition", "parse_rule", "replay",
        "replay_event", "sign_headers", "webhook_id"},
    "pipeline.sink": {
        "DEAD_LETTERS", "DeadLetter", "DeadLetters", "Metrics", "Outcome", "Poison", "Sink",
        "SinkConfig", "SinkError", "configure_logging", "dead_letters", "get_dead_letter",
        "new_sink_id", "replay"},
    "warehouse.engines": {
        "CacheStatus", "Catalog", "CatalogInfo", "DEFAULT_SAMPLE_VALUES", "ENGINE_KINDS", "Engine",
        "EngineError", "EngineStatus", "EngineUnavailable", "Estimate", "QUERY_SOURCES",
        "QueryCancelled", "QueryResult", "QueryTimeout", "open_engine"},
    "warehouse.engines.duckdb_engine": {"DuckDBEngine", "to_duckdb"},
    "warehouse.trino": {
        "ADMIN_USER", "CATALOG", "READER_USER", "SCHEMA", "TABLE", "TRINO_VERSION", "TrinoServer",
        "TrinoServerError", "TrinoSetupError", "client_source", "install_trino",
        "register_events_table"},
    "guardrails": {"CheckedQuery", "GuardrailError", "Policy", "RULES", "Rejected", "check"},
    "workspace.analyst": {
        "AnalystError", "AnalystUnavailable", "Answer", "AnswerFailed", "Attempt", "ChatStore",
        "ChatSummary", "DataContext", "InstructorPlanner", "LLMError", "Plan", "Planner", "Session",
        "SqlQuery", "Turn", "ask", "describe", "planner_from_settings"},
    "workspace.analyst.rules": {"SURE", "RuleAnswer", "RulePlanner"},
    "workspace.api": {
        "Breakdown", "CausalityError", "ChartSpec", "Client", "DateRange", "EngineError", "Filter",
        "Funnel", "FunnelStep", "Rejected", "Retention", "Stickiness", "TopEvents", "Trend"},
    "workspace.app": {"run"},
    "workspace.evals": {
        "DEMO_QUESTIONS", "DemoSpec", "EvalError", "Match", "Question", "QuestionResult",
        "QuestionSet", "Report", "compare", "load_questions", "run_eval", "summarize"},
    "workspace.insights": {
        "Breakdown", "COLUMNS", "DateRange", "Filter", "Funnel", "FunnelStep", "INSIGHT_KINDS",
        "Insight", "InsightError", "InsightKind", "KINDS", "Retention", "Stickiness", "TopEvents",
        "Trend", "compile_insight"},
    "workspace.notebooks": {"NotebookError", "NotebookQuery", "notebook_source"},
    "workspace.queries": {"downsample_sql", "needs_downsampling", "restrict_dates"},
    "charts": {
        "CHART_KINDS", "ChartError", "ChartKind", "ChartSpec", "PALETTE", "PRIMARY",
        "TEMPLATE_NAME", "TIME_SERIES_KINDS", "auto_spec", "problems", "to_figure"},
    "charts.figure": {"auto_spec", "is_numeric", "is_time", "problems", "to_figure"},
}


def public_modules(room: str) -> set[str]:
    found = set()
    for path in (ROOT / room).rglob("*.py"):
        name = module_name(path, ROOT)
        if not any(part.startswith("_") for part in name.split(".")) and name != room:
            found.add(name)
    return found


@pytest.mark.parametrize("room", sorted(RANKS))
def test_the_public_modules_of_each_room_are_pinned(room: str) -> None:
    assert public_modules(room) - KIND_MODULES == PUBLIC_MODULES[room]


def test_each_insight_kind_is_a_public_module() -> None:
    assert public_modules("workspace") >= KIND_MODULES


@pytest.mark.parametrize("module", sorted(EXPORTS))
def test_the_names_each_public_package_exports_are_pinned(module: str) -> None:
    loaded = importlib.import_module(module)
    assert set(loaded.__all__) == EXPORTS[module]
    for name in loaded.__all__:
        assert getattr(loaded, name) is not None, name


def test_every_public_package_says_what_it_owns() -> None:
    for room in RANKS:
        for init in (ROOT / room).rglob("__init__.py"):
            if not any(part.startswith("_") for part in init.relative_to(ROOT).parts[:-1]):
                assert importlib.import_module(module_name(init, ROOT)).__doc__, init


def test_every_package_that_exports_names_is_pinned() -> None:
    """A public package either pins its names here or defines none (a docstring only)."""
    for room in RANKS:
        for name in public_modules(room) | {room}:
            init = Path(ROOT, *name.split("."), "__init__.py")
            if not init.is_file():
                continue
            if hasattr(importlib.import_module(name), "__all__"):
                assert name in EXPORTS, name
            else:
                body = ast.parse(init.read_text()).body
                assert all(isinstance(node, ast.Expr) or (
                    isinstance(node, ast.ImportFrom) and node.module == "__future__")
                    for node in body), f"{name} defines names but no __all__"
