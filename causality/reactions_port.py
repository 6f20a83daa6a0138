"""The workspace's `ReactionsPort`, made of the pipeline's rule and monitor parsers and the
metadata store's destinations: the workspace never imports the pipeline, this root joins them.

Pipeline errors are translated here into the workspace's `ReactionsError` with the same code,
field and hint, so the page shows them like any other error.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from sqlalchemy.engine import Engine as SqlEngine

from metadata.reactions import Destinations
from pipeline.errors import PipelineError
from pipeline.monitors import parse_monitor
from pipeline.reactor import Rule, Verdict, explain, parse_rule
from workspace.reactions import EventVerdict, LeafResult, ReactionsError, ScopeResult


class ReactorReactions:
    """Implements `workspace.reactions.ReactionsPort`; ``key`` reads the 32-byte secret key
    only when destinations are first needed (``causality.wiring.reactor_key``)."""

    def __init__(self, db: SqlEngine, key: Callable[[], bytes]):
        self._db = db
        self._key = key

    def check_rule(self, rule_json: str) -> str:
        return self._rule(rule_json).model_dump_json(exclude_none=True)

    def explain(self, rule_json: str, rows: list[dict[str, Any]]) -> list[EventVerdict]:
        rule = self._rule(rule_json)
        return [_verdict(row, explain(rule, row)) for row in rows]

    def check_monitor(self, spec_json: str) -> str:
        try:
            return parse_monitor(spec_json).model_dump_json(exclude_none=True)
        except PipelineError as err:
            raise _translated(err) from None

    @cached_property
    def destinations(self) -> Destinations:
        return Destinations(self._db, self._key())

    @staticmethod
    def _rule(rule_json: str) -> Rule:
        try:
            return parse_rule(rule_json)
        except PipelineError as err:
            raise _translated(err) from None


def _translated(err: PipelineError) -> ReactionsError:
    return ReactionsError(err.message, code=err.code, hint=err.hint, **err.facts)


def _verdict(row: dict[str, Any], verdict: Verdict) -> EventVerdict:
    return EventVerdict(
        event_id=str(row.get("event_id") or ""), event_type=str(row.get("event_type") or ""),
        event_time=str(row.get("event_time") or ""), matches=verdict.matches,
        reasons=verdict.reasons,
        scope=tuple(ScopeResult(s.field, s.expected, s.actual, s.matched) for s in verdict.scope),
        leaves=tuple(LeafResult(leaf.at, leaf.field, leaf.operator, leaf.expected, leaf.actual,
                                leaf.result) for leaf in verdict.leaves))
