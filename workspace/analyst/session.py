"""A conversation: its turns (question, plan, the SQL that ran) and their storage.

Sessions are kept in the metadata store (`metadata.ChatLog`) so the UI can list and reopen
them; a session belongs to one app scope (or none) and never changes it. `ChatStore` converts
sessions to the store's plain records and its errors to `AnalystError`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine as SqlEngine

from metadata import MetadataError
from metadata.chats import (
    DEFAULT_LIST_LIMIT,
    ChatLog,
    ChatSummary,
    StoredChat,
    StoredTurn,
    UnknownChat,
    WrongChatScope,
)
from workspace.analyst.errors import AnalystError
from workspace.analyst.plan import Plan


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


class ChatStore:
    """Saves sessions turn by turn; lists and reloads them."""

    def __init__(self, db: SqlEngine):
        self.db = db
        self.log = ChatLog(db)

    def save(self, session: Session) -> None:
        """Create the chat if new, then insert the turns not stored yet."""
        chat = StoredChat(chat_id=session.chat_id, actor=session.actor, app_id=session.app_id,
                          title=session.title, turns=tuple(_stored(t) for t in session.turns))
        try:
            self.log.save(chat)
        except WrongChatScope as err:
            raise _analyst_error(err) from None

    def load(self, chat_id: str) -> Session:
        try:
            chat = self.log.load(chat_id)
        except UnknownChat as err:
            raise _analyst_error(err) from None
        return Session(app_id=chat.app_id, actor=chat.actor, chat_id=chat.chat_id,
                       title=chat.title, turns=[_turn(t) for t in chat.turns])

    def list(self, actor: str | None = None, app_id: str | None = None,
             limit: int = DEFAULT_LIST_LIMIT) -> list[ChatSummary]:
        """Newest first; `app_id` filters to that scope when given."""
        return self.log.list(actor=actor, app_id=app_id, limit=limit)


def _analyst_error(err: MetadataError) -> AnalystError:
    return AnalystError(err.message, code=err.code, hint=err.hint)


def _stored(turn: Turn) -> StoredTurn:
    error = turn.error or {}
    return StoredTurn(question=turn.question,
                      plan_json=turn.plan.model_dump_json() if turn.plan else None,
                      sql=turn.sql, ok=turn.ok, error_code=error.get("code"),
                      error_message=error.get("message"), audit_ids=turn.audit_ids,
                      attempts=turn.attempts, at=turn.at)


def _turn(stored: StoredTurn) -> Turn:
    error = None
    if stored.error_code:
        error = {"code": stored.error_code, "message": stored.error_message}
    return Turn(question=stored.question,
                plan=Plan.model_validate_json(stored.plan_json) if stored.plan_json else None,
                sql=stored.sql, ok=stored.ok, error=error, audit_ids=stored.audit_ids,
                attempts=stored.attempts, at=stored.at)
