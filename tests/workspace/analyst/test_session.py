"""The analyst's chats over the metadata store's chat log: a chat keeps its scope."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from workspace.analyst import AnalystError, ChatStore, Session, Turn


def test_chat_store_refuses_another_scope(db: SqlEngine) -> None:
    store = ChatStore(db)
    session = Session(app_id="shop", actor="ana", turns=[Turn("q", None, None, False)])
    store.save(session)
    intruder = Session(app_id="news", actor="ana", chat_id=session.chat_id)
    with pytest.raises(AnalystError) as caught:
        store.save(intruder)
    assert caught.value.code == "chat_scope"
    with pytest.raises(AnalystError):
        store.load("nope")
    assert store.list(app_id="news") == []
