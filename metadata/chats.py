"""Chats: the stored history of analyst conversations (tables ``chats`` and ``chat_turns``).

A chat belongs to one actor and app scope (or none) and never changes it; its turns are only
ever appended. Turns are plain records: the workspace's plan is kept as its JSON text, so this
room knows nothing of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from metadata._db import chat_turns, chats
from metadata.errors import MetadataError

TITLE_CHARS = 200
DEFAULT_LIST_LIMIT = 50


class UnknownChat(MetadataError):
    code = "unknown_chat"


class WrongChatScope(MetadataError):
    """The chat exists under another actor or app scope."""

    code = "chat_scope"


@dataclass(frozen=True)
class StoredTurn:
    question: str
    plan_json: str | None
    sql: str | None
    ok: bool
    error_code: str | None = None
    error_message: str | None = None
    audit_ids: tuple[int, ...] = ()
    attempts: int = 1
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class StoredChat:
    """One chat and its turns in order. An empty `title` on save means the first question."""

    chat_id: str
    actor: str
    app_id: str | None
    title: str = ""
    turns: tuple[StoredTurn, ...] = ()


@dataclass(frozen=True)
class ChatSummary:
    chat_id: str
    title: str
    actor: str
    app_id: str | None
    turns: int
    created_at: datetime
    updated_at: datetime


class ChatLog:
    """Saves chats turn by turn; lists and reloads them."""

    def __init__(self, db: Engine):
        self.db = db

    def save(self, chat: StoredChat) -> None:
        """Create the chat if new, then insert the turns not stored yet, in one transaction.

        Raises `WrongChatScope` when the chat exists under another actor or app.
        """
        now = datetime.now(UTC)
        with self.db.begin() as conn:
            stored = conn.execute(sa.select(chats.c.app_id, chats.c.actor).where(
                chats.c.chat_id == chat.chat_id)).first()
            if stored is None:
                title = chat.title or (chat.turns[0].question if chat.turns else "")
                conn.execute(chats.insert().values(
                    chat_id=chat.chat_id, title=title[:TITLE_CHARS], actor=chat.actor,
                    app_id=chat.app_id, created_at=now, updated_at=now))
            elif (stored.app_id, stored.actor) != (chat.app_id, chat.actor):
                raise WrongChatScope(f"chat {chat.chat_id} belongs to another user or app",
                                     hint="start a new chat")
            have = conn.execute(sa.select(sa.func.count()).select_from(chat_turns).where(
                chat_turns.c.chat_id == chat.chat_id)).scalar_one()
            for seq, turn in enumerate(chat.turns[have:], start=have):
                conn.execute(chat_turns.insert().values(
                    chat_id=chat.chat_id, seq=seq, question=turn.question,
                    plan=turn.plan_json, sql=turn.sql, ok=turn.ok,
                    error_code=turn.error_code, error_message=turn.error_message,
                    audit_ids=",".join(str(i) for i in turn.audit_ids),
                    attempts=turn.attempts, at=turn.at))
            conn.execute(chats.update().where(chats.c.chat_id == chat.chat_id)
                         .values(updated_at=now))

    def load(self, chat_id: str) -> StoredChat:
        """The chat and its turns; raises `UnknownChat` when there is none."""
        with self.db.connect() as conn:
            head = conn.execute(sa.select(chats).where(chats.c.chat_id == chat_id)).mappings()
            row = head.first()
            if row is None:
                raise UnknownChat(f"no chat with id {chat_id}",
                                  hint="`causality ask` prints the chat id of each answer")
            turns = conn.execute(sa.select(chat_turns).where(chat_turns.c.chat_id == chat_id)
                                 .order_by(chat_turns.c.seq)).mappings().all()
        return StoredChat(chat_id=chat_id, actor=row["actor"], app_id=row["app_id"],
                          title=row["title"], turns=tuple(_turn(t) for t in turns))

    def list(self, actor: str | None = None, app_id: str | None = None,
             limit: int = DEFAULT_LIST_LIMIT) -> list[ChatSummary]:
        """Newest first; `actor` and `app_id` filter when given."""
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


def _turn(row: sa.RowMapping) -> StoredTurn:
    ids = tuple(int(i) for i in row["audit_ids"].split(",") if i) if row["audit_ids"] else ()
    return StoredTurn(question=row["question"], plan_json=row["plan"], sql=row["sql"],
                      ok=bool(row["ok"]), error_code=row["error_code"],
                      error_message=row["error_message"], audit_ids=ids,
                      attempts=row["attempts"], at=row["at"])
