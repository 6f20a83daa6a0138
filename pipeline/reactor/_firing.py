"""Phase two of rule evaluation, and what a match becomes: a firing with its webhook body.

:func:`live_rules` turns stored rules into :class:`LiveRule` s (parsed, conditions compiled,
throttle and destinations resolved) once per rule change; a stored rule that no longer parses is
reported, never fatal. :class:`Evaluator` takes one batch's rows: the index finds candidates,
only candidates evaluate their conditions, and every match becomes a
:class:`~metadata.outbox.FiringDraft` whose webhook id is stable per (rule, event), so a
receiver can de-duplicate and a redelivered event records nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from metadata.outbox import DeadDraft, FiringDraft, ThrottleLimit
from pipeline.monitors import Transition
from pipeline.reactor._conditions import Predicate, compile_conditions
from pipeline.reactor._errors import ReactorError
from pipeline.reactor._index import IndexHolder, RuleIndex
from pipeline.reactor._rules import Rule, parse_rule

WEBHOOK_ID_PREFIX = "msg_"
RULE_FIRED = "rule.fired"
_TOP_LEVEL = ("event_id", "event_type", "category", "app_id", "user_id", "anonymous_id",
              "session_id")


@dataclass(frozen=True)
class LiveRule:
    """A rule ready to evaluate: what the index reads, the compiled predicate, the effects."""

    id: str
    app_id: str
    category: str | None
    event_type: str | None
    predicate: Predicate = field(repr=False)
    throttle: ThrottleLimit | None
    destination_ids: tuple[str, ...]


@dataclass(frozen=True)
class Problem:
    """A stored rule that cannot be made live, and why."""

    rule_id: str
    code: str
    message: str


@dataclass
class Outcome:
    """One batch's evaluation: firings to record, events to dead-letter, and counts."""

    drafts: list[FiringDraft] = field(default_factory=list)
    dead: list[DeadDraft] = field(default_factory=list)
    events: int = 0
    candidates: int = 0
    matched: int = 0


def make_live(rule: Rule) -> LiveRule:
    """Compile one rule (raises :class:`~pipeline.reactor.RuleError` on a bad condition)."""
    throttle = rule.throttle
    return LiveRule(
        id=rule.id, app_id=rule.app_id, category=rule.category, event_type=rule.event_type,
        predicate=compile_conditions(rule.conditions),
        throttle=None if throttle is None else ThrottleLimit(
            throttle.max_firings, throttle.window_s, throttle.per_user),
        destination_ids=tuple(dict.fromkeys(a.destination_id for a in rule.actions)))


def live_rules(stored: Iterable[tuple[str, str, bool]]) -> tuple[list[LiveRule], list[Problem]]:
    """``(rule_id, rule_json, enabled)`` rows → the live rules and the ones that failed."""
    live: list[LiveRule] = []
    problems: list[Problem] = []
    for rule_id, rule_json, enabled in stored:
        if not enabled:
            continue
        try:
            rule = parse_rule(rule_json)
            if rule.id != rule_id:
                raise ReactorError(f"the JSON's id {rule.id!r} is not the stored id",
                                   code="rule_id_mismatch", hint="store the rule again")
            if rule.enabled:
                live.append(make_live(rule))
        except ReactorError as exc:
            problems.append(Problem(rule_id, exc.code, exc.message))
    return live, problems


def webhook_id(source_id: str, app_id: str, event_id: str) -> str:
    """Stable per (rule, event): every delivery and redelivery of one firing carries it."""
    digest = hashlib.sha256(f"{source_id}\0{app_id}\0{event_id}".encode()).hexdigest()
    return WEBHOOK_ID_PREFIX + digest[:32]


def event_view(row: dict[str, Any]) -> dict[str, Any]:
    """The event as conditions see it: top-level fields, ``properties`` and ``context``
    decoded from their JSON text (raises ``orjson.JSONDecodeError`` on bad text)."""
    view = {key: row.get(key) for key in _TOP_LEVEL}
    for key in ("properties", "context"):
        text = row.get(key)
        view[key] = orjson.loads(text) if text else None
    return view


def _iso(micros: Any) -> str | None:
    if not isinstance(micros, int):
        return None
    return datetime.fromtimestamp(micros / 1e6, UTC).isoformat().replace("+00:00", "Z")


def rule_payload(rule_id: str, view: dict[str, Any], row: dict[str, Any], now: datetime) -> str:
    """The JSON body of a rule's webhook (Standard Webhooks' type/timestamp/data shape)."""
    event = dict(view, event_time=_iso(row.get("event_time")),
                 received_at=_iso(row.get("received_at")))
    return orjson.dumps({
        "type": RULE_FIRED, "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": {"rule_id": rule_id, "app_id": view.get("app_id"), "event": event},
    }).decode()


class Evaluator:
    """Evaluates batches of rows against the holder's current index."""

    def __init__(self, holder: IndexHolder):
        self.holder = holder

    def evaluate(self, rows: Sequence[dict[str, Any]], outcome: Outcome | None = None,
                 now: datetime | None = None) -> Outcome:
        out = outcome if outcome is not None else Outcome()
        index: RuleIndex = self.holder.current  # one index for the whole batch
        now = now or datetime.now(UTC)
        for row in rows:
            out.events += 1
            candidates = index.candidates(row["app_id"], row["category"], row["event_type"])
            if not candidates:
                continue
            out.candidates += len(candidates)
            try:
                view = event_view(row)
            except orjson.JSONDecodeError as exc:
                out.dead.append(DeadDraft("bad_event", f"properties or context is not JSON: "
                                          f"{exc}", orjson.dumps(row), app_id=row["app_id"]))
                continue
            for rule in candidates:
                assert isinstance(rule, LiveRule)
                try:
                    matched = rule.predicate(view)
                except Exception as exc:
                    out.dead.append(DeadDraft(
                        "rule_failed", f"{type(exc).__name__}: {exc}", orjson.dumps(row),
                        app_id=row["app_id"], rule_id=rule.id))
                    continue
                if not matched:
                    continue
                out.matched += 1
                user = row.get("user_id") or row.get("anonymous_id")
                out.drafts.append(FiringDraft(
                    webhook_id=webhook_id(rule.id, row["app_id"], row["event_id"]),
                    source="rule", source_id=rule.id, app_id=row["app_id"],
                    payload=rule_payload(rule.id, view, row, now),
                    destination_ids=rule.destination_ids, event_id=row["event_id"],
                    user_key=user, throttle=rule.throttle))
        return out


MONITOR_FIRED, MONITOR_RESOLVED = "monitor.fired", "monitor.resolved"


def monitor_draft(t: Transition) -> FiringDraft:
    """A monitor's alert changing state, as a firing to its destinations; the webhook id is
    stable per (monitor, incident, fired|resolved), so a re-evaluation sends the same id."""
    digest = hashlib.sha256(f"{t.monitor_id}\0{t.alert_id}\0{t.kind}".encode()).hexdigest()
    bucket = t.bucket.astimezone(UTC).isoformat().replace("+00:00", "Z")
    payload = orjson.dumps({
        "type": MONITOR_FIRED if t.kind == "fired" else MONITOR_RESOLVED,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "data": {"monitor_id": t.monitor_id, "name": t.name, "app_id": t.app_id,
                 "alert_id": t.alert_id, "direction": t.direction, "bucket": bucket,
                 "observed": t.observed, "expected": t.expected},
    }).decode()
    return FiringDraft(webhook_id=WEBHOOK_ID_PREFIX + digest[:32], source="monitor",
                       source_id=t.monitor_id, app_id=t.app_id, payload=payload,
                       destination_ids=t.destination_ids)
