"""The reactor's durable records: firings, the webhook outbox, the delivery log, dead letters.

A firing is recorded with one outbox row per destination, and with the throttle decision, in
one transaction (:meth:`Outbox.record`); the reactor ACKs an event only after that commit, so a
crash loses nothing and a redelivered event records nothing twice (firings are keyed by their
stable webhook id). Delivery workers, in any number of processes, :meth:`~Outbox.claim` due rows
under a lease and :meth:`~Outbox.settle` each attempt: delivered, retried later, or dead. A row
whose worker died is claimed again when its lease ends, so every firing is delivered at least
once, and duplicates carry the same webhook id.

Throttle checks count recorded firings, so they hold across processes and restarts: every
recording transaction first updates the one ``reactor_lock`` row, which serialises them
(SQLite's write lock, PostgreSQL's row lock).

Dead letters are of two kinds: ``event`` (an event no rule could evaluate: the raw event is kept)
and ``delivery`` (a firing whose retries ran out, or that was refused for good).
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from metadata._db import (
    reaction_dead_letters,
    reaction_firings,
    reactor_lock,
    webhook_attempts,
    webhook_destinations,
    webhook_outbox,
)
from metadata.errors import MetadataError

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
MAX_RESPONSE_CHARS = 2048
MAX_REASON_CHARS = 4096
CLAIM_LOOKAHEAD = 4  # due rows ranked per claimed row, at most
CLAIM_ROUNDS = 3  # looks past destinations that filled their room, at most
_claims = itertools.count(1)


class UnknownDeadLetter(MetadataError):
    code = "unknown_dead_letter"


@dataclass(frozen=True)
class ThrottleLimit:
    """At most ``max_firings`` per ``window_s`` seconds per source (per user when per_user)."""

    max_firings: int
    window_s: float
    per_user: bool = False


@dataclass(frozen=True)
class FiringDraft:
    """A firing to record: its body is fixed now, so a replay sends the same bytes."""

    webhook_id: str
    source: str  # "rule" | "monitor"
    source_id: str
    app_id: str
    payload: str
    destination_ids: tuple[str, ...]
    event_id: str | None = None
    user_key: str | None = None
    throttle: ThrottleLimit | None = None


@dataclass(frozen=True)
class DeadDraft:
    """An event that cannot be evaluated (kind ``event``), kept with the reason."""

    code: str
    reason: str
    payload: bytes
    app_id: str | None = None
    rule_id: str | None = None
    kind: str = "event"


@dataclass(frozen=True)
class Recorded:
    fired: int  # new firings
    throttled: int
    already: int  # recorded before (a redelivered event)
    deliveries: int  # outbox rows made
    dead: int


@dataclass(frozen=True)
class Delivery:
    """A claimed outbox row; ``attempts`` made before this one."""

    delivery_id: str
    webhook_id: str
    source: str
    source_id: str
    app_id: str
    destination_id: str
    payload: str
    attempts: int
    fired_at: float
    claim: str


@dataclass(frozen=True)
class Settled:
    """One attempt's result. ``status``: delivered, pending (retry at ``next_at``), dead, or
    released (not attempted: the destination's breaker was open; no attempt is counted)."""

    delivery_id: str
    claim: str
    status: str
    outcome: str
    next_at: float = 0.0
    http_status: int | None = None
    latency_ms: float | None = None
    response: str = ""
    code: str = ""  # for dead: why
    attempt: int = 0  # this attempt's number (1 for the first)


@dataclass(frozen=True)
class DeliveryRow:
    delivery_id: str
    webhook_id: str
    source: str
    source_id: str
    app_id: str
    destination_id: str
    status: str
    attempts: int
    fired_at: float
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    done_at: float | None
    payload: str


@dataclass(frozen=True)
class AttemptRow:
    delivery_id: str
    attempt: int
    at: float
    outcome: str
    http_status: int | None
    latency_ms: float | None
    response: str | None


@dataclass(frozen=True)
class DeadLetterRow:
    dead_id: int
    kind: str
    code: str
    reason: str
    app_id: str | None
    rule_id: str | None
    delivery_id: str | None
    payload: bytes
    created_at: float
    replayed_at: float | None

    def summary(self) -> dict[str, object]:
        return {"id": self.dead_id, "kind": self.kind, "code": self.code, "reason": self.reason,
                "app_id": self.app_id, "rule_id": self.rule_id,
                "delivery_id": self.delivery_id, "bytes": len(self.payload),
                "created_at": self.created_at, "replayed_at": self.replayed_at}


def delivery_id_of(webhook_id: str, destination_id: str) -> str:
    """The outbox key of one firing's delivery to one destination."""
    key = f"{webhook_id}:{destination_id}"
    if len(key) <= 64:
        return key
    return hashlib.sha256(f"{webhook_id}\0{destination_id}".encode()).hexdigest()


class Outbox:
    """Record firings, hand out due deliveries, keep their log and the dead letters."""

    def __init__(self, db: Engine, *, clock: Callable[[], float] = time.time):
        self.db = db
        self.clock = clock

    # -- recording -----------------------------------------------------------------------
    def record(self, drafts: Sequence[FiringDraft], dead: Sequence[DeadDraft] = ()) -> Recorded:
        """Record firings (throttled ones are not) and event dead letters, in one transaction.

        A draft whose webhook id is recorded already counts as ``already`` and changes nothing,
        so recording the same event twice is harmless. Nothing to record opens no transaction
        (most batches fire nothing)."""
        if not drafts and not dead:
            return Recorded(0, 0, 0, 0, 0)
        throttled = already = 0
        now = self.clock()
        firings: list[dict[str, object]] = []
        deliveries: list[dict[str, object]] = []
        with self.db.begin() as conn:
            _lock(conn)
            known = _known_ids(conn, [d.webhook_id for d in drafts])
            windows: dict[tuple[str, str | None], int] = {}  # throttle counts, this batch too
            for draft in drafts:
                if draft.webhook_id in known:
                    already += 1
                    continue
                if draft.throttle is not None:
                    window = (draft.source_id,
                              draft.user_key if draft.throttle.per_user else None)
                    if window not in windows:
                        windows[window] = _fired_within(conn, draft, now)
                    if windows[window] >= draft.throttle.max_firings:
                        throttled += 1
                        continue
                    windows[window] += 1
                known.add(draft.webhook_id)
                firings.append(dict(
                    webhook_id=draft.webhook_id, source=draft.source, source_id=draft.source_id,
                    app_id=draft.app_id, event_id=draft.event_id, user_key=draft.user_key,
                    fired_at=now))
                deliveries.extend(dict(
                    delivery_id=delivery_id_of(draft.webhook_id, dest),
                    webhook_id=draft.webhook_id, source=draft.source, source_id=draft.source_id,
                    app_id=draft.app_id, destination_id=dest, payload=draft.payload,
                    status=PENDING, attempts=0, fired_at=now, next_attempt_at=now)
                    for dest in dict.fromkeys(draft.destination_ids))
            if firings:
                conn.execute(reaction_firings.insert(), firings)
            if deliveries:
                conn.execute(webhook_outbox.insert(), deliveries)
            if dead:
                conn.execute(reaction_dead_letters.insert(), [
                    dict(kind=d.kind, code=d.code, reason=d.reason[:MAX_REASON_CHARS],
                         app_id=d.app_id, rule_id=d.rule_id, delivery_id=None,
                         payload=d.payload, created_at=now) for d in dead])
        return Recorded(len(firings), throttled, already, len(deliveries), len(dead))

    # -- delivering ----------------------------------------------------------------------
    def claim(self, worker: str, *, limit: int, lease_s: float, per_destination: int,
              busy: Mapping[str, int] | None = None,
              exclude_destinations: Sequence[str] = ()) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries, oldest due first, to ``worker``: at most
        ``per_destination`` of one destination, less what ``busy`` says is in flight there
        (so nothing claimed waits for a slot while its lease runs). Disabled destinations'
        rows wait, pending, until the destination is enabled again."""
        now = self.clock()
        claim = f"{worker}:{next(_claims)}"[:64]
        o, w = webhook_outbox.c, webhook_destinations.c
        due = sa.and_(o.status == PENDING, o.next_attempt_at <= now,
                      sa.or_(o.lease_until.is_(None), o.lease_until < now),
                      o.destination_id.not_in(sa.select(w.destination_id).where(
                          w.disabled_at.is_not(None))))
        busy = busy or {}
        excluded = {*exclude_destinations, *(d for d, n in busy.items() if n >= per_destination)}
        picked: dict[str, str] = {}  # delivery id -> destination
        with self.db.begin() as conn:
            _lock(conn)  # a write first: SQLite takes its write lock now, not mid-transaction
            for _ in range(CLAIM_ROUNDS):
                found = conn.execute(_pick(due, excluded, list(picked), busy, per_destination,
                                           limit - len(picked))).all()
                picked.update((d, dest) for d, dest in found)
                if len(picked) >= limit or not found:
                    break
                # destinations that filled their room in the look-ahead may have hidden the
                # rows of others behind them: look again without them
                taken = Counter(picked.values())
                full = {d for d, n in taken.items()
                        if n >= per_destination - busy.get(d, 0)} - excluded
                if not full:
                    break
                excluded |= full
            ids = list(picked)
            if not ids:
                return []
            conn.execute(webhook_outbox.update().where(o.delivery_id.in_(ids), due).values(
                lease_until=now + lease_s, leased_by=claim))
            rows = conn.execute(sa.select(webhook_outbox).where(
                o.delivery_id.in_(ids), o.leased_by == claim).order_by(
                    o.next_attempt_at)).mappings().all()
        return [Delivery(r["delivery_id"], r["webhook_id"], r["source"], r["source_id"],
                         r["app_id"], r["destination_id"], r["payload"], r["attempts"],
                         r["fired_at"], claim) for r in rows]

    def settle(self, results: Sequence[Settled]) -> int:
        """Write attempts' results in one transaction. Every update holds only while the row
        is still leased to the result's claim: a worker whose lease ran out (another claimed
        the row since) changes nothing, though its attempt is still logged (it was made).
        Delivered and retried rows are written in a few statements per batch; dead ones one by
        one, each with its dead letter only when its update held. Returns the rows changed."""
        if not results:
            return 0
        now = self.clock()
        o = webhook_outbox.c
        mine = sa.and_(o.delivery_id == sa.bindparam("d"), o.leased_by == sa.bindparam("c"))
        cleared = {"lease_until": None, "leased_by": None}
        changed = 0
        with self.db.begin() as conn:
            groups: dict[str, list[dict[str, object]]] = {}
            for r in results:
                groups.setdefault(r.status, []).append({
                    "d": r.delivery_id, "c": r.claim, "n": r.attempt, "s": r.http_status,
                    "e": None if r.status == DELIVERED else (r.code or r.outcome)[
                        :MAX_REASON_CHARS], "t": r.next_at})
            for status, rows in groups.items():
                if status == DEAD:
                    continue
                if status == "released":
                    stmt = webhook_outbox.update().where(mine).values(
                        next_attempt_at=sa.bindparam("t"), **cleared)
                else:
                    done: dict[str, object] = {"status": DELIVERED, "done_at": now} if (
                        status == DELIVERED) else {"status": PENDING,
                                                   "next_attempt_at": sa.bindparam("t")}
                    stmt = webhook_outbox.update().where(mine).values(
                        attempts=sa.bindparam("n"), last_status=sa.bindparam("s"),
                        last_error=sa.bindparam("e"), **done, **cleared)
                changed += max(0, conn.execute(stmt, rows).rowcount)
            for r in results:
                if r.status == DEAD:
                    changed += self._bury(conn, r, now)
            attempted = [r for r in results if r.status != "released"]
            if attempted:
                conn.execute(webhook_attempts.insert(), [dict(
                    delivery_id=r.delivery_id, attempt=r.attempt, at=now, outcome=r.outcome,
                    http_status=r.http_status, latency_ms=r.latency_ms,
                    response=r.response[:MAX_RESPONSE_CHARS] or None) for r in attempted])
        return changed

    @staticmethod
    def _bury(conn: Connection, r: Settled, now: float) -> int:
        """A dead delivery and its dead letter, if the row is still this claim's."""
        o = webhook_outbox.c
        n = conn.execute(webhook_outbox.update().where(
            o.delivery_id == r.delivery_id, o.leased_by == r.claim).values(
                status=DEAD, done_at=now, attempts=r.attempt, last_status=r.http_status,
                last_error=(r.code or r.outcome)[:MAX_REASON_CHARS], lease_until=None,
                leased_by=None)).rowcount
        if not n:
            return 0
        row = conn.execute(sa.select(o.app_id, o.source, o.source_id, o.payload).where(
            o.delivery_id == r.delivery_id)).mappings().one()
        conn.execute(reaction_dead_letters.insert().values(
            kind="delivery", code=r.code or r.outcome, reason=_reason(r)[:MAX_REASON_CHARS],
            app_id=row["app_id"], rule_id=row["source_id"] if row["source"] == "rule" else None,
            delivery_id=r.delivery_id, payload=row["payload"].encode(), created_at=now))
        return 1

    def next_due(self) -> float | None:
        """When the earliest pending delivery falls due (Unix time), or None."""
        o = webhook_outbox.c
        with self.db.connect() as conn:
            value = conn.execute(sa.select(sa.func.min(o.next_attempt_at)).where(
                o.status == PENDING)).scalar_one_or_none()
        return None if value is None else float(value)

    # -- reading -------------------------------------------------------------------------
    def deliveries(self, *, app_id: str | None = None, source_id: str | None = None,
                   status: str | None = None, limit: int = 100) -> list[DeliveryRow]:
        """The delivery log, newest firing first."""
        o = webhook_outbox.c
        query = sa.select(webhook_outbox).order_by(o.fired_at.desc(), o.delivery_id).limit(limit)
        for column, value in ((o.app_id, app_id), (o.source_id, source_id), (o.status, status)):
            if value is not None:
                query = query.where(column == value)
        with self.db.connect() as conn:
            return [_delivery_row(r) for r in conn.execute(query).mappings()]

    def attempts(self, delivery_id: str) -> list[AttemptRow]:
        a = webhook_attempts.c
        query = sa.select(webhook_attempts).where(a.delivery_id == delivery_id).order_by(
            a.attempt, a.attempt_id)
        with self.db.connect() as conn:
            return [AttemptRow(r["delivery_id"], r["attempt"], r["at"], r["outcome"],
                               r["http_status"], r["latency_ms"], r["response"])
                    for r in conn.execute(query).mappings()]

    def fired_at_by_webhook(self, webhook_ids: Sequence[str]) -> list[tuple[str, float]]:
        """When each firing was recorded (Unix time); unknown ids are left out."""
        f = reaction_firings.c
        out: list[tuple[str, float]] = []
        with self.db.connect() as conn:
            for start in range(0, len(webhook_ids), 500):
                chunk = list(webhook_ids[start:start + 500])
                out.extend((w, float(t)) for w, t in conn.execute(
                    sa.select(f.webhook_id, f.fired_at).where(f.webhook_id.in_(chunk))))
        return out

    def pending(self) -> int:
        """Deliveries not yet delivered or dead (by the due index, not a table scan)."""
        o = webhook_outbox.c
        with self.db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(
                o.status == PENDING)).scalar_one())

    def counts(self) -> dict[str, int]:
        """Outbox rows by status."""
        o = webhook_outbox.c
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(o.status, sa.func.count()).group_by(o.status)).all()
        return {status: int(n) for status, n in rows}

    # -- dead letters --------------------------------------------------------------------
    def dead_letters(self, *, kind: str | None = None, include_replayed: bool = False,
                     limit: int | None = None) -> list[DeadLetterRow]:
        """Dead letters, oldest first."""
        d = reaction_dead_letters.c
        query = sa.select(reaction_dead_letters).order_by(d.dead_id)
        if kind is not None:
            query = query.where(d.kind == kind)
        if not include_replayed:
            query = query.where(d.replayed_at.is_(None))
        if limit is not None:
            query = query.limit(limit)
        with self.db.connect() as conn:
            return [_dead_row(r) for r in conn.execute(query).mappings()]

    def dead_letter(self, dead_id: int) -> DeadLetterRow:
        d = reaction_dead_letters.c
        with self.db.connect() as conn:
            row = conn.execute(sa.select(reaction_dead_letters).where(
                d.dead_id == dead_id)).mappings().first()
        if row is None:
            raise UnknownDeadLetter(f"no reactions dead letter {dead_id}",
                                    hint="`causality reactions dlq list` shows the ids",
                                    dead_id=dead_id)
        return _dead_row(row)

    def requeue(self, dead_id: int) -> DeliveryRow:
        """A delivery dead letter's firing goes back to pending with a fresh retry budget
        (same webhook id and body); the dead letter is marked replayed."""
        letter = self.dead_letter(dead_id)
        if letter.kind != "delivery" or letter.delivery_id is None:
            raise MetadataError(f"dead letter {dead_id} is an event, not a delivery",
                                code="not_a_delivery",
                                hint="replay event dead letters through the reactor's rules")
        now = self.clock()
        o = webhook_outbox.c
        with self.db.begin() as conn:
            n = conn.execute(webhook_outbox.update().where(
                o.delivery_id == letter.delivery_id, o.status == DEAD).values(
                    status=PENDING, attempts=0, next_attempt_at=now, lease_until=None,
                    leased_by=None, done_at=None)).rowcount
            if not n:  # the transaction rolls back: the letter stays as it was
                raise MetadataError(
                    f"the delivery of dead letter {dead_id} is not dead any more",
                    code="delivery_not_dead",
                    hint="it was replayed already; `causality reactions deliveries` shows it")
            d = reaction_dead_letters.c  # every letter of this delivery is answered by it
            conn.execute(reaction_dead_letters.update().where(
                d.delivery_id == letter.delivery_id, d.replayed_at.is_(None)).values(
                    replayed_at=now))
            row = conn.execute(sa.select(webhook_outbox).where(
                o.delivery_id == letter.delivery_id)).mappings().one()
        return _delivery_row(row)

    def mark_replayed(self, dead_id: int) -> None:
        self.dead_letter(dead_id)
        with self.db.begin() as conn:
            self._mark(conn, dead_id, self.clock())

    @staticmethod
    def _mark(conn: Connection, dead_id: int, now: float) -> None:
        d = reaction_dead_letters.c
        conn.execute(reaction_dead_letters.update().where(d.dead_id == dead_id).values(
            replayed_at=now))

    def prune(self, older_than_s: float) -> int:
        """Forget delivered and dead rows, their attempts and firings older than this. A dead
        row whose dead letter has not been replayed stays: the letter needs it to replay."""
        cutoff = self.clock() - older_than_s
        o, f, a = webhook_outbox.c, reaction_firings.c, webhook_attempts.c
        d = reaction_dead_letters.c
        waiting = sa.select(d.delivery_id).where(d.delivery_id.is_not(None),
                                                 d.replayed_at.is_(None))
        old = sa.and_(o.status != PENDING, o.done_at < cutoff, o.delivery_id.not_in(waiting))
        with self.db.begin() as conn:
            conn.execute(webhook_attempts.delete().where(
                a.delivery_id.in_(sa.select(o.delivery_id).where(old))))
            n = conn.execute(webhook_outbox.delete().where(old)).rowcount
            conn.execute(reaction_firings.delete().where(f.fired_at < cutoff))
        return int(n)


def _pick(due: sa.ColumnElement[bool], excluded: set[str], picked: list[str],
          busy: Mapping[str, int], per_destination: int, limit: int) -> sa.Select[Any]:
    """Due rows, oldest first, at most each destination's room. Only the earliest due rows are
    ranked (by the index), so a claim costs the same however long the backlog is."""
    o = webhook_outbox.c
    where = [due]
    if excluded:
        where.append(o.destination_id.not_in(sorted(excluded)))
    if picked:
        where.append(o.delivery_id.not_in(picked))
    head = sa.select(o.delivery_id, o.next_attempt_at, o.destination_id).where(*where).order_by(
        o.next_attempt_at).limit(max(limit * CLAIM_LOOKAHEAD, per_destination)).subquery()
    rank = sa.func.row_number().over(partition_by=head.c.destination_id,
                                     order_by=(head.c.next_attempt_at, head.c.delivery_id))
    ranked = sa.select(head.c.delivery_id, head.c.next_attempt_at, head.c.destination_id,
                       rank.label("rank")).subquery()
    room = [(ranked.c.destination_id == d, per_destination - n)
            for d, n in busy.items() if 0 < n < per_destination]
    cap = sa.case(*room, else_=per_destination) if room else per_destination
    return sa.select(ranked.c.delivery_id, ranked.c.destination_id).where(
        ranked.c.rank <= cap).order_by(ranked.c.next_attempt_at).limit(limit)


def _lock(conn: Connection) -> None:
    conn.execute(reactor_lock.update().where(reactor_lock.c.id == 1).values(
        n=reactor_lock.c.n + 1))


def _known_ids(conn: Connection, ids: list[str]) -> set[str]:
    known: set[str] = set()
    f = reaction_firings.c
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        known.update(conn.execute(sa.select(f.webhook_id).where(f.webhook_id.in_(chunk)))
                     .scalars())
    return known


def _fired_within(conn: Connection, draft: FiringDraft, now: float) -> int:
    """Firings of the draft's source (and user, for a per-user throttle) in its window."""
    limit = draft.throttle
    assert limit is not None
    f = reaction_firings.c
    query = sa.select(sa.func.count()).where(f.source_id == draft.source_id,
                                             f.fired_at > now - limit.window_s)
    if limit.per_user:
        query = query.where(f.user_key == draft.user_key) if draft.user_key is not None \
            else query.where(f.user_key.is_(None))
    return int(conn.execute(query).scalar_one())


def _reason(r: Settled) -> str:
    status = f"HTTP {r.http_status}" if r.http_status is not None else r.outcome
    return f"{status}: {r.response}" if r.response else status


def _delivery_row(r: sa.RowMapping) -> DeliveryRow:
    return DeliveryRow(r["delivery_id"], r["webhook_id"], r["source"], r["source_id"],
                       r["app_id"], r["destination_id"], r["status"], r["attempts"],
                       r["fired_at"], r["next_attempt_at"], r["last_status"], r["last_error"],
                       r["done_at"], r["payload"])


def _dead_row(r: sa.RowMapping) -> DeadLetterRow:
    return DeadLetterRow(r["dead_id"], r["kind"], r["code"], r["reason"], r["app_id"],
                         r["rule_id"], r["delivery_id"], bytes(r["payload"]), r["created_at"],
                         r["replayed_at"])
