"""The reactor: event rules → signed webhooks, on its own durable consumer of ``EVENTS``.

The rule model (:class:`Rule`, stored as JSON) and the condition language
(:func:`parse_condition`, :func:`compile_conditions`; semantics in
:mod:`pipeline.reactor._conditions`); the index that finds an event's candidate rules by
``(app_id, category, event_type)`` with wildcard buckets (:class:`RuleIndex`, swapped atomically
in an :class:`IndexHolder`); the :class:`Evaluator` that turns matches into firings with a
webhook id stable per (rule, event); and the process, :class:`Reactor`: events are ACKed only
after their firings are recorded in the outbox (:class:`metadata.Outbox`), and delivery workers
POST them signed per Standard Webhooks with retries, per-destination limits and breakers.
"""

from pipeline.logs import configure_logging
from pipeline.reactor._conditions import (
    DEFAULT_LIMITS,
    OPERATORS,
    Condition,
    ConditionLimits,
    Event,
    Predicate,
    compile_conditions,
    parse_condition,
)
from pipeline.reactor._errors import ReactorError, RuleError
from pipeline.reactor._explain import LeafCheck, ScopeCheck, Verdict, explain
from pipeline.reactor._firing import (
    Evaluator,
    LiveRule,
    Outcome,
    Problem,
    event_view,
    live_rules,
    make_live,
    monitor_draft,
    webhook_id,
)
from pipeline.reactor._index import Indexed, IndexHolder, RuleIndex, linear_candidates
from pipeline.reactor._metrics import Metrics
from pipeline.reactor._reactor import MonitorTick, Reactor, ReactorConfig, RunResult
from pipeline.reactor._replay import replay, replay_event
from pipeline.reactor._rules import Rule, Throttle, WebhookAction, parse_rule
from pipeline.reactor._webhook import sign_headers

__all__ = [
    "DEFAULT_LIMITS",
    "OPERATORS",
    "Condition",
    "ConditionLimits",
    "Evaluator",
    "Event",
    "IndexHolder",
    "Indexed",
    "LeafCheck",
    "LiveRule",
    "Metrics",
    "MonitorTick",
    "Outcome",
    "Predicate",
    "Problem",
    "Reactor",
    "ReactorConfig",
    "ReactorError",
    "Rule",
    "RuleError",
    "RuleIndex",
    "RunResult",
    "ScopeCheck",
    "Throttle",
    "Verdict",
    "WebhookAction",
    "compile_conditions",
    "configure_logging",
    "event_view",
    "explain",
    "linear_candidates",
    "live_rules",
    "make_live",
    "monitor_draft",
    "parse_condition",
    "parse_rule",
    "replay",
    "replay_event",
    "sign_headers",
    "webhook_id",
]
