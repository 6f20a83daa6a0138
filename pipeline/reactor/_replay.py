"""Replaying reactions dead letters (``causality reactions dlq replay``).

A delivery dead letter goes back to the outbox with a fresh retry budget: the same webhook id
and body (:meth:`metadata.Outbox.requeue`). An event dead letter is evaluated again against the
rules as they are now and its firings recorded, as the running reactor would have; one that
still cannot be evaluated stays in the DLQ and the error says why.
"""

from __future__ import annotations

from typing import Any

import orjson

from metadata.outbox import DeadLetterRow, Outbox, Recorded
from metadata.reactions import RuleStore
from pipeline.bus import BusError, decode_batch
from pipeline.reactor._errors import ReactorError
from pipeline.reactor._firing import Evaluator, Outcome, live_rules
from pipeline.reactor._index import IndexHolder, RuleIndex


def _rows(payload: bytes) -> list[dict[str, Any]]:
    try:
        return [dict(r) for r in decode_batch(payload).rows]
    except BusError:
        pass
    try:
        row = orjson.loads(payload)
    except orjson.JSONDecodeError:
        row = None
    needed = ("event_id", "app_id", "category", "event_type")
    if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in needed):
        raise ReactorError("the dead letter holds neither an events batch nor an event row",
                           code="dead_letter_unreadable",
                           hint="inspect it with `causality reactions dlq show`; it cannot "
                                "be replayed")
    return [row]


def replay_event(letter: DeadLetterRow, rules: RuleStore, outbox: Outbox) -> Recorded:
    """Evaluate an event dead letter against the current rules, record its firings, and mark
    it replayed; raises :class:`ReactorError` when it still cannot be evaluated."""
    rows = _rows(letter.payload)
    live, _problems = live_rules((r.rule_id, r.rule_json, r.enabled)
                                 for r in rules.list(enabled_only=True))
    out = Evaluator(IndexHolder(RuleIndex.build(live))).evaluate(rows, Outcome())
    if out.dead:
        first = out.dead[0]
        raise ReactorError(f"the event still cannot be evaluated: {first.reason}",
                           code=first.code, hint="fix the rule named in the dead letter, "
                                                 "then replay again", rule_id=first.rule_id)
    recorded = outbox.record(out.drafts)
    outbox.mark_replayed(letter.dead_id)
    return recorded


def replay(dead_id: int, rules: RuleStore, outbox: Outbox) -> Recorded | None:
    """Replay one dead letter of either kind; a delivery's returns None (it was requeued)."""
    letter = outbox.dead_letter(dead_id)
    if letter.kind == "delivery":
        outbox.requeue(dead_id)
        return None
    return replay_event(letter, rules, outbox)
