"""The reactor: event rules → signed webhooks.

It will own its own durable JetStream consumer on ``EVENTS``, the rules indexed by app and event
name, the compiled conditions and throttles, an outbox of webhook deliveries with retries, and a
dead-letter stream for deliveries that cannot succeed. Today it holds the pure parts: the rule
model (:class:`Rule`, stored as JSON), the condition language (:func:`parse_condition`,
:func:`compile_conditions`; semantics in :mod:`pipeline.reactor._conditions`), and the index
that finds an event's candidate rules by ``(app_id, category, event_type)`` with wildcard
buckets (:class:`RuleIndex`, swapped atomically in an :class:`IndexHolder`).
"""

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
from pipeline.reactor._index import Indexed, IndexHolder, RuleIndex, linear_candidates
from pipeline.reactor._rules import Rule, Throttle, WebhookAction, parse_rule

__all__ = [
    "DEFAULT_LIMITS",
    "OPERATORS",
    "Condition",
    "ConditionLimits",
    "Event",
    "IndexHolder",
    "Indexed",
    "Predicate",
    "ReactorError",
    "Rule",
    "RuleError",
    "RuleIndex",
    "Throttle",
    "WebhookAction",
    "compile_conditions",
    "linear_candidates",
    "parse_condition",
    "parse_rule",
]
