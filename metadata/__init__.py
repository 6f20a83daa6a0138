"""The metadata store: hashed API keys, users, dashboards, embeds, verified queries, the audit
log and shared rate windows. A room below both the pipeline (ingest reads keys) and the
workspace; it imports neither."""

from metadata._db import open_db
from metadata.errors import MetadataError, UnknownKey
from metadata.keys import ApiKey, KeyStore
from metadata.verified import UnknownVerifiedQuery, VerifiedQueries, VerifiedQuery

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
