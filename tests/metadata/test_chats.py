"""The chat log: created on first save, turns appended once, scoped, listed newest first."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine as SqlEngine

from metadata import (
    ChatLog,
    MetadataError,
    StoredChat,
    StoredTurn,
    UnknownChat,
    WrongChatScope,
)
from metadata.chats import TITLE_CHARS

AT = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def _chat(chat_id: str = "c1", *turns: StoredTurn, actor: str = "ana",
          app_id: str | None = "shop", title: str = "") -> StoredChat:
    return StoredChat(chat_id=chat_id, actor=actor, app_id=app_id, title=title, turns=turns)


def _turn(question: str) -> StoredTurn:
    return StoredTurn(question=question, plan_json=None, sql=None, ok=True, at=AT)


def test_a_saved_chat_loads_back_field_for_field(db: SqlEngine) -> None:
    ok = StoredTurn(question="daily signups?", plan_json='{"query": {"kind": "sql"}}',
                    sql="SELECT 1", ok=True, audit_ids=(3, 4), attempts=2, at=AT)
    failed = StoredTurn(question="and revenue?", plan_json=None, sql=None, ok=False,
                        error_code="answer_failed", error_message="no luck", at=AT)
    log = ChatLog(db)
    log.save(_chat("c1", ok, failed))
    assert log.load("c1") == _chat("c1", ok, failed, title="daily signups?")


def test_saving_again_inserts_only_the_new_turns(db: SqlEngine) -> None:
    log = ChatLog(db)
    first = _turn("one")
    log.save(_chat("c1", first))
    # The stored first turn wins: a save never rewrites what is there.
    log.save(_chat("c1", _turn("one, edited"), _turn("two")))
    log.save(_chat("c1", first, _turn("two, again")))
    assert [t.question for t in log.load("c1").turns] == ["one", "two"]
    with db.connect() as conn:
        seqs = conn.execute(sa.text("SELECT seq FROM chat_turns ORDER BY seq")).scalars().all()
    assert seqs == [0, 1]


def test_the_title_is_given_or_the_first_question_cut(db: SqlEngine) -> None:
    log = ChatLog(db)
    log.save(_chat("named", _turn("q"), title="Signups"))
    log.save(_chat("long", _turn("x" * (TITLE_CHARS + 50))))
    log.save(_chat("empty"))
    assert log.load("named").title == "Signups"
    assert log.load("long").title == "x" * TITLE_CHARS
    assert log.load("empty") == _chat("empty")


@pytest.mark.parametrize(("actor", "app_id"), [("ana", "news"), ("bob", "shop"), ("ana", None)])
def test_a_chat_keeps_its_actor_and_scope(db: SqlEngine, actor: str, app_id: str | None) -> None:
    log = ChatLog(db)
    log.save(_chat("c1", _turn("q")))
    with pytest.raises(WrongChatScope) as caught:
        log.save(_chat("c1", _turn("q"), _turn("more"), actor=actor, app_id=app_id))
    error = caught.value
    assert isinstance(error, MetadataError)
    assert (error.code, error.message, error.hint) == (
        "chat_scope", "chat c1 belongs to another user or app", "start a new chat")
    assert len(log.load("c1").turns) == 1  # the refused save wrote nothing


def test_an_unknown_chat(db: SqlEngine) -> None:
    with pytest.raises(UnknownChat) as caught:
        ChatLog(db).load("nope")
    assert (caught.value.code, caught.value.message, caught.value.hint) == (
        "unknown_chat", "no chat with id nope",
        "`causality ask` prints the chat id of each answer")


def test_list_is_newest_first_and_filters(db: SqlEngine) -> None:
    log = ChatLog(db)
    log.save(_chat("a", _turn("q1"), actor="ana", app_id="shop"))
    log.save(_chat("b", _turn("q2"), actor="bob", app_id="news"))
    log.save(_chat("c", _turn("q3"), actor="ana", app_id=None))
    log.save(_chat("a", _turn("q1"), _turn("q1 again"), actor="ana", app_id="shop"))
    listed = log.list()
    assert [(s.chat_id, s.turns) for s in listed] == [("a", 2), ("c", 1), ("b", 1)]
    assert listed[0].updated_at >= listed[0].created_at
    assert listed[0].updated_at.tzinfo is not None
    assert [s.chat_id for s in log.list(actor="ana")] == ["a", "c"]
    assert [s.chat_id for s in log.list(app_id="news")] == ["b"]
    assert [s.chat_id for s in log.list(actor="ana", app_id="news")] == []
    assert [s.chat_id for s in log.list(limit=1)] == ["a"]
