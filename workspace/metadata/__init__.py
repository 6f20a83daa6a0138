"""The metadata store: hashed API keys, audit log (and, later, dashboards, users, embeds)."""

from workspace.metadata._db import open_db
from workspace.metadata.errors import MetadataError, UnknownKey
from workspace.metadata.keys import ApiKey, KeyStore

__all__ = ["ApiKey", "KeyStore", "MetadataError", "UnknownKey", "open_db"]
