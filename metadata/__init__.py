"""The metadata store: hashed API keys, audit log, verified queries, chats (and, later,
dashboards, users, embeds)."""

from workspace.metadata._db import open_db
from workspace.metadata.errors import MetadataError, UnknownKey
from workspace.metadata.keys import ApiKey, KeyStore
from workspace.metadata.verified import UnknownVerifiedQuery, VerifiedQueries, VerifiedQuery

__all__ = [
    "ApiKey",
    "KeyStore",
    "MetadataError",
    "UnknownKey",
    "UnknownVerifiedQuery",
    "VerifiedQueries",
    "VerifiedQuery",
    "open_db",
]
