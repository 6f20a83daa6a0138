"""A conversation: its turns (question, plan, the SQL that ran) and their storage.

Sessions are kept in the metadata store (tables ``chats`` and ``chat_turns``) so the UI can
list and reopen them; a session belongs to one app scope (or none) and never changes it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine as SqlEngine

from metadata._db import chat_turns, chats
from workspace.analyst.errors import AnalystError
from workspace.analyst.plan import Plan

TITLE_CHARS = 200


@dataclass(frozen=True)
class Turn:
    question: str
    plan: Plan | None
    sql: str | None
    ok: bool
    error: dict[str, Any] | None = None
    audit_ids: tuple[int, ...] = ()
    attempts: int = 1
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Session:
    """History of one chat. `app_id` is the tenant scope the chat was started under."""

    app_id: str | None = None
    actor: str = "analyst"
    chat_id: str = field(default_factory=lambda: secrets.token_hex(8))
    turns: list[Turn] = field(default_factory=list)
    title: str = ""

    @property
    def last_plan(self) -> Plan | None:
        for turn in reversed(self.turns):
            if turn.ok and turn.plan is not None:
                return turn.plan
        return None


@dataclass(frozen=True)
class ChatSummary:
    chat_id: str
    title: str
    actor: str
    app_id: str | None
    turns: int
    created_at: datetime
    updated_at: datetime


class ChatStore:
    """Saves sessions turn by turn; lists and reloads them."""

    def __init__(self, db: SqlEngine):
        self.db = db

    def save(self, session: Session) -> None:
        """Create the chat if new, then insert the turns not stored yet."""
        now = datetime.now(UTC)
        with self.db.begin() as conn:
            stored = conn.execute(sa.select(chats.c.app_id, chats.c.actor).where(
                chats.c.chat_id == session.chat_id)).first()
            if stored is None:
                title = session.title or (session.turns[0].question if session.turns else "")
                conn.execute(chats.insert().values(
                    chat_id=session.chat_id, title=title[:TITLE_CHARS], actor=session.actor,
                    app_id=session.app_id, created_at=now, updated_at=now))
            elif (stored.app_id, stored.actor) != (session.app_id, session.actor):
                raise AnalystError(f"chat {session.chat_id} belongs to another user or app",
                                   code="chat_scope", hint="start a new chat")
            have = conn.execute(sa.select(sa.func.count()).select_from(chat_turns).where(
                chat_turns.c.chat_id == session.chat_id)).scalar_one()
            for seq, turn in enumerate(session.turns[have:], start=have):
                conn.execute(chat_turns.insert().values(
                    chat_id=session.chat_id, seq=seq, question=turn.question,
                    plan=turn.plan.model_dump_json() if turn.plan else None, sql=turn.sql,
                    ok=turn.ok, error_code=(turn.error or {}).get("code"),
                    error_message=(turn.error or {}).get("message"),
                    audit_ids=",".join(str(i) for i in turn.audit_ids),
                    attempts=turn.attempts, at=turn.at))
            conn.execute(chats.update().where(chats.c.chat_id == session.chat_id)
                         .values(updated_at=now))

    def load(self, chat_id: str) -> Session:
        with self.db.connect() as conn:
            head = conn.execute(sa.select(chats).where(chats.c.chat_id == chat_id)).mappings()
            row = head.first()
            if row is None:
                raise AnalystError(f"no chat with id {chat_id}", code="unknown_chat",
                                   hint="`causality ask` prints the chat id of each answer")
            turns = conn.execute(sa.select(chat_turns).where(chat_turns.c.chat_id == chat_id)
                                 .order_by(chat_turns.c.seq)).mappings().all()
        return Session(app_id=row["app_id"], actor=row["actor"], chat_id=chat_id,
                       title=row["title"], turns=[_turn(t) for t in turns])

    def list(self, actor: str | None = None, app_id: str | None = None,
             limit: int = 50) -> list[ChatSummary]:
        """Newest first; `app_id` filters to that scope when given."""
        count = (sa.select(sa.func.count()).select_from(chat_turns)
                 .where(chat_turns.c.chat_id == chats.c.chat_id).scalar_subquery())
        query = sa.select(chats, count.label("turns")).order_by(
            chats.c.updated_at.desc()).limit(limit)
        if actor is not None:
            query = query.where(chats.c.actor == actor)
        if app_id is not None:
            query = query.where(chats.c.app_id == app_id)
        with self.db.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [ChatSummary(chat_id=r["chat_id"], title=r["title"], actor=r["actor"],
                            app_id=r["app_id"], turns=int(r["turns"]),
                            created_at=r["created_at"], updated_at=r["updated_at"])
                for r in rows]


def _turn(row: sa.RowMapping) -> Turn:
    error = None
    if row["error_code"]:
        error = {"code": row["error_code"], "message": row["error_message"]}
    ids = tuple(int(i) for i in row["audit_ids"].split(",") if i) if row["audit_ids"] else ()
    return Turn(question=row["question"],
                plan=Plan.model_validate(json.loads(row["plan"])) if row["plan"] else None,
                sql=row["sql"], ok=bool(row["ok"]), error=error, audit_ids=ids,
                attempts=row["attempts"], at=row["at"])

