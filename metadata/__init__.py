"""The metadata store: hashed API keys, users, dashboards, embeds, verified queries, analyst
chats, the audit log and shared rate windows. A room below both the pipeline (ingest reads keys)
and the workspace; it imports neither."""

from metadata._db import open_db
from metadata.chats import (
    ChatLog,
    ChatSummary,
    StoredChat,
    StoredTurn,
    UnknownChat,
    WrongChatScope,
)
from metadata.errors import MetadataError, UnknownKey
from metadata.keys import ApiKey, KeyStore
from metadata.verified import UnknownVerifiedQuery, VerifiedQueries, VerifiedQuery

__all__ = [
    "ApiKey",
    "ChatLog",
    "ChatSummary",
    "KeyStore",
    "MetadataError",
    "StoredChat",
    "StoredTurn",
    "UnknownChat",
    "UnknownKey",
    "UnknownVerifiedQuery",
    "VerifiedQueries",
    "VerifiedQuery",
    "WrongChatScope",
    "open_db",
]
