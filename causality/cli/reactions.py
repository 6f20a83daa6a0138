"""``causality rules`` and ``causality reactions`` (dead letters and the delivery log): managing
what the reactor does, from the command line (destinations: :mod:`causality.cli.destinations`).

A rule is checked by :func:`pipeline.reactor.parse_rule` (its errors name the field, e.g.
``conditions.and[1].regex.pattern``), then against the store: its app must be known (an API key
or data in the warehouse) and every destination must exist. Every error is a coded
:class:`~causality.errors.CausalityError`, shown by the root group without a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from causality.cli._app import with_payload
from causality.cli._checks import (
    check_app,
    check_destinations,
    created_by,
    db,
    parse_json,
    read_json_file,
    when,
)
from causality.errors import CausalityError

if TYPE_CHECKING:
    from metadata import Outbox, RuleStore, StoredRule
    from pipeline.reactor import Rule

THROTTLE = re.compile(r"\s*(\d{1,9})\s*/\s*(\d{1,9}(?:\.\d{1,6})?)\s*")
DELIVERY_STATUSES = click.Choice(["pending", "delivered", "dead"])
DEAD_KINDS = click.Choice(["event", "delivery"])


def _rules(ctx: click.Context) -> RuleStore:
    from metadata import RuleStore

    return RuleStore(db(ctx))


def _outbox(ctx: click.Context) -> Outbox:
    from metadata import Outbox

    return Outbox(db(ctx))


# -- rules ------------------------------------------------------------------------------------
@click.group("rules")
def rules() -> None:
    """Event rules: which events fire which webhooks. The reactor picks up changes within
    seconds."""


def _throttle(text: str | None, per_user: bool) -> dict[str, Any] | None:
    from pipeline.reactor import RuleError

    if text is None:
        if per_user:
            raise RuleError("throttle.per_user: --per-user needs --throttle N/SECONDS",
                            code="missing_key", field="throttle.per_user",
                            hint="add e.g. --throttle 5/3600 (at most 5 firings an hour)")
        return None
    found = THROTTLE.fullmatch(text)
    if found is None:
        raise RuleError(f"throttle: {text[:80]!r} is not N/SECONDS", code="bad_value",
                        field="throttle", hint="e.g. --throttle 5/3600: at most 5 an hour")
    return {"max_firings": int(found[1]), "window_s": float(found[2]), "per_user": per_user}


def rule_from_flags(rule_id: str | None, app_id: str | None, category: str | None,
                    event_type: str | None, where: str | None, destinations: tuple[str, ...],
                    throttle: str | None, per_user: bool) -> Rule:
    """A rule from ``rules add``'s flags, checked by :func:`pipeline.reactor.parse_rule`."""
    from pipeline.reactor import RuleError, parse_rule

    data: dict[str, Any] = {"id": rule_id, "app_id": app_id, "category": category,
                            "event_type": event_type}
    data = {k: v for k, v in data.items() if v is not None}
    if where is not None:
        data["conditions"] = parse_json(
            where, "conditions", option="--where",
            hint='e.g. --where \'{"eq": {"field": "properties.plan", "value": "pro"}}\'')
    limit = _throttle(throttle, per_user)
    if limit is not None:
        data["throttle"] = limit
    rule = parse_rule(data | {"actions": [{"type": "webhook", "destination_id": d}
                                          for d in destinations or ("-",)]})
    if not destinations:  # the rest is valid: say what is missing in the flags' words
        raise RuleError("actions: give at least one --destination ID", code="missing_key",
                        field="actions", hint="`causality destinations list` shows the ids")
    return rule


def _rule_from_file(source: BinaryIO) -> Rule:
    from pipeline.reactor import parse_rule

    return parse_rule(read_json_file(source, "rule"))


def _check_rule(ctx: click.Context, rule: Rule) -> None:
    check_app(ctx, rule.app_id)
    check_destinations(ctx, ((f"actions[{i}].destination_id", a.destination_id)
                             for i, a in enumerate(rule.actions)))


def _rule_doc(stored: StoredRule) -> dict[str, Any]:
    try:
        body: Any = json.loads(stored.rule_json)
    except ValueError:
        body = stored.rule_json
    live = stored.enabled and not (isinstance(body, dict) and body.get("enabled") is False)
    return {"id": stored.rule_id, "app_id": stored.app_id, "enabled": stored.enabled,
            "live": live, "created_by": stored.created_by,
            "created_at": when(stored.created_at), "updated_at": when(stored.updated_at),
            "rule": body}


@rules.command("add")
@click.option("--file", "source", type=click.File("rb"), default=None,
              help="A file holding the rule as JSON ('-' reads standard input). "
                   "Leave out to build the rule from the flags below.")
@click.option("--id", "rule_id", default=None, help="The rule's id, unique.")
@click.option("--app", "app_id", default=None, help="The app whose events it watches.")
@click.option("--category", default=None, help="Only this category (glob: * any run, ? one).")
@click.option("--event-type", default=None, help="Only this event type (glob: * any run, ? one).")
@click.option("--where", default=None, metavar="JSON",
              help='The condition, e.g. \'{"gt": {"field": "properties.total", "value": 100}}\'.')
@click.option("--destination", "destinations", multiple=True, metavar="ID",
              help="A webhook destination to POST to (repeatable; at least one).")
@click.option("--throttle", default=None, metavar="N/SECONDS",
              help="At most N firings per SECONDS, e.g. 5/3600.")
@click.option("--per-user", is_flag=True, help="Count the throttle per user.")
@click.pass_context
def rules_add(ctx: click.Context, source: BinaryIO | None, rule_id: str | None,
              app_id: str | None, category: str | None, event_type: str | None,
              where: str | None, destinations: tuple[str, ...], throttle: str | None,
              per_user: bool) -> None:
    """Add a rule, from --file or from flags.

    The rule is checked before it is stored: the condition language (an unknown operator or an
    invalid regex is an error naming the field), a known app, existing destinations.

    \b
    Examples:
      causality rules add --file rule.json
      causality rules add --id big-order --app shop --event-type 'order_*' \\
        --where '{"gt": {"field": "properties.total", "value": 100}}' \\
        --destination d1e2f3 --throttle 10/3600 --per-user
    """
    flags = (rule_id, app_id, category, event_type, where, throttle)
    if source is not None and (any(f is not None for f in flags) or destinations or per_user):
        raise click.UsageError("give either --file or the rule's flags, not both")
    rule = (_rule_from_file(source) if source is not None else
            rule_from_flags(rule_id, app_id, category, event_type, where, destinations,
                            throttle, per_user))
    _check_rule(ctx, rule)
    _rules(ctx).add(rule.id, rule.app_id, rule.model_dump_json(), created_by())
    click.echo(f"added rule {rule.id} for app {rule.app_id} "
               f"({len(rule.actions)} destination(s))")


@rules.command("replace")
@click.argument("rule_id")
@click.option("--file", "source", type=click.File("rb"), required=True,
              help="A file holding the new rule as JSON ('-' reads standard input).")
@click.pass_context
def rules_replace(ctx: click.Context, rule_id: str, source: BinaryIO) -> None:
    """Replace a rule's JSON; its id and app stay, and so does its enabled switch."""
    rule = _rule_from_file(source)
    stored = _rules(ctx).get(rule_id)
    for field, new, old in (("id", rule.id, rule_id), ("app_id", rule.app_id, stored.app_id)):
        if new != old:
            raise CausalityError(f"{field}: the new rule says {new!r}, the stored one {old!r}",
                                 code=f"{field.removesuffix('_id')}_mismatch", field=field,
                                 hint="a replacement keeps the id and app; add a new rule "
                                      "for another")
    _check_rule(ctx, rule)
    _rules(ctx).replace(rule_id, rule.model_dump_json())
    click.echo(f"replaced rule {rule_id}")


@rules.command("list")
@click.option("--app", "app_id", default=None, help="Only this app's rules.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the rules in full).")
@click.pass_context
def rules_list(ctx: click.Context, app_id: str | None, as_json: bool) -> None:
    """List rules, newest first: id, app, state, what they watch, destinations."""
    docs = [_rule_doc(r) for r in _rules(ctx).list(app_id)]
    if as_json:
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    if not docs:
        click.echo("no rules")
        return
    for d in docs:
        body = d["rule"] if isinstance(d["rule"], dict) else {}
        watch = f"{body.get('category') or '*'}/{body.get('event_type') or '*'}"
        dests = ",".join(str(a.get("destination_id")) for a in body.get("actions", ())
                         if isinstance(a, dict))
        state = "enabled" if d["live"] else "disabled"
        click.echo(f"{d['id']:<24} {d['app_id']:<16} {state:<9} {watch:<32} -> {dests}")


@rules.command("show")
@click.argument("rule_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def rules_show(ctx: click.Context, rule_id: str, as_json: bool) -> None:
    """Show one rule: who made it, when, its state and its JSON."""
    doc = _rule_doc(_rules(ctx).get(rule_id))
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    for key in ("id", "app_id", "enabled", "live", "created_by", "created_at", "updated_at"):
        click.echo(f"{key + ':':<12} {doc[key]}")
    click.echo("rule:")
    click.echo(json.dumps(doc["rule"], indent=2, ensure_ascii=False))


@rules.command("disable")
@click.argument("rule_id")
@click.pass_context
def rules_disable(ctx: click.Context, rule_id: str) -> None:
    """Stop a rule from firing; it is kept, and `enable` turns it back on."""
    _rules(ctx).set_enabled(rule_id, False)
    click.echo(f"disabled rule {rule_id}")


@rules.command("enable")
@click.argument("rule_id")
@click.pass_context
def rules_enable(ctx: click.Context, rule_id: str) -> None:
    """Let a disabled rule fire again."""
    _rules(ctx).set_enabled(rule_id, True)
    click.echo(f"enabled rule {rule_id}")


@rules.command("delete")
@click.argument("rule_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def rules_delete(ctx: click.Context, rule_id: str, yes: bool) -> None:
    """Delete a rule for good (its past deliveries stay in the log)."""
    store = _rules(ctx)
    store.get(rule_id)  # an unknown id fails before the question
    if not yes:
        click.confirm(f"delete rule {rule_id}?", abort=True)
    store.delete(rule_id)
    click.echo(f"deleted rule {rule_id}")


# -- reactions: dead letters and the delivery log ---------------------------------------------
@click.group("reactions")
def reactions() -> None:
    """The reactor's records: its dead letters and the webhook delivery log."""


@reactions.group("dlq")
def reactions_dlq() -> None:
    """Dead letters: events no rule could evaluate, deliveries whose retries ran out."""


def _dead_doc(letter: Any) -> dict[str, Any]:
    doc: dict[str, Any] = letter.summary()
    doc["created_at"] = when(letter.created_at)
    doc["replayed_at"] = when(letter.replayed_at)
    return doc


@reactions_dlq.command("list")
@click.option("--kind", type=DEAD_KINDS, default=None, help="Only this kind.")
@click.option("--replayed", is_flag=True, help="Include dead letters replayed already.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Show at most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def dlq_list(ctx: click.Context, kind: str | None, replayed: bool, limit: int | None,
             as_json: bool) -> None:
    """List dead letters, oldest first: id, kind, time, code, rule, reason."""
    docs = [_dead_doc(x) for x in
            _outbox(ctx).dead_letters(kind=kind, include_replayed=replayed, limit=limit)]
    if as_json:
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    if not docs:
        click.echo("no dead letters")
    for d in docs:
        click.echo(f"{d['id']:>6}  {d['kind']:<8} {d['created_at']}  {d['code']:<24} "
                   f"rule={d['rule_id'] or '-'}  {d['reason'][:120]}")


@reactions_dlq.command("show")
@click.argument("dead_id", type=click.IntRange(1))
@click.pass_context
def dlq_show(ctx: click.Context, dead_id: int) -> None:
    """Show one dead letter as JSON: the summary and its payload (hex when not UTF-8)."""
    letter = _outbox(ctx).dead_letter(dead_id)
    doc = _dead_doc(letter)
    click.echo(json.dumps(with_payload(doc, letter.payload), indent=2, ensure_ascii=False))


@reactions_dlq.command("replay")
@click.argument("dead_id", type=click.IntRange(1), required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter not replayed.")
@click.pass_context
def dlq_replay(ctx: click.Context, dead_id: int | None, replay_all: bool) -> None:
    """Replay dead letters.

    A delivery goes back to the outbox with a fresh retry budget (same webhook id and body);
    an event is evaluated again against the rules as they are now. One that still fails stays
    in the DLQ; with --all the others are replayed and the exit code is 1.
    """
    from metadata import RuleStore
    from pipeline.reactor import replay

    if (dead_id is None) == (not replay_all):
        raise click.UsageError("give one DEAD_ID or --all")
    outbox = _outbox(ctx)
    rules_store = RuleStore(outbox.db)
    if dead_id is not None:
        click.echo(_replayed(dead_id, replay(dead_id, rules_store, outbox)))
        return
    failed = 0
    letters = outbox.dead_letters()
    for letter in letters:
        try:
            click.echo(_replayed(letter.dead_id, replay(letter.dead_id, rules_store, outbox)))
        except CausalityError as err:
            failed += 1
            click.echo(f"dead letter {letter.dead_id} not replayed: [{err.code}] {err.message}",
                       err=True)
    click.echo(f"{len(letters) - failed} dead letter(s) replayed, {failed} failed")
    if failed:
        sys.exit(1)


def _replayed(dead_id: int, recorded: Any) -> str:
    if recorded is None:
        return f"replayed {dead_id}: the delivery is pending again"
    return (f"replayed {dead_id}: fired={recorded.fired} throttled={recorded.throttled} "
            f"already={recorded.already} deliveries={recorded.deliveries}")


@reactions.command("deliveries")
@click.option("--rule", "rule_id", default=None, help="Only this rule's (or monitor's) firings.")
@click.option("--app", "app_id", default=None, help="Only this app's.")
@click.option("--status", type=DELIVERY_STATUSES, default=None, help="Only in this state.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Show at most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the bodies sent).")
@click.pass_context
def deliveries(ctx: click.Context, rule_id: str | None, app_id: str | None,
               status: str | None, limit: int, as_json: bool) -> None:
    """The delivery log, newest firing first: status, attempts, last HTTP status."""
    rows = _outbox(ctx).deliveries(app_id=app_id, source_id=rule_id, status=status, limit=limit)
    docs = [{"delivery_id": r.delivery_id, "webhook_id": r.webhook_id, "source": r.source,
             "source_id": r.source_id, "app_id": r.app_id, "destination_id": r.destination_id,
             "status": r.status, "attempts": r.attempts, "fired_at": when(r.fired_at),
             "next_attempt_at": when(r.next_attempt_at) if r.status == "pending" else None,
             "last_status": r.last_status, "last_error": r.last_error,
             "done_at": when(r.done_at), "payload": r.payload} for r in rows]
    if as_json:
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    if not docs:
        click.echo("no deliveries")
    for d in docs:
        last = d["last_status"] if d["last_status"] is not None else (d["last_error"] or "-")
        click.echo(f"{d['delivery_id']}  {d['fired_at']}  {d['source']}:{d['source_id']:<20} "
                   f"-> {d['destination_id']}  {d['status']:<9} attempts={d['attempts']} "
                   f"last={last}")


@reactions.command("attempts")
@click.argument("delivery_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def attempts(ctx: click.Context, delivery_id: str, as_json: bool) -> None:
    """Every attempt of one delivery: when, outcome, HTTP status, latency, response."""
    rows = _outbox(ctx).attempts(delivery_id)
    docs: list[dict[str, Any]] = [
        {"attempt": a.attempt, "at": when(a.at), "outcome": a.outcome,
         "http_status": a.http_status, "latency_ms": a.latency_ms, "response": a.response}
        for a in rows]
    if as_json:
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    if not docs:
        click.echo(f"no attempts for delivery {delivery_id}")
    for d in docs:
        latency = f"{d['latency_ms']:.0f} ms" if d["latency_ms"] is not None else "-"
        click.echo(f"#{d['attempt']}  {d['at']}  {d['outcome']:<12} "
                   f"http={d['http_status'] or '-'}  {latency:>8}  {(d['response'] or '')[:200]}")


COMMANDS = (rules, reactions)
