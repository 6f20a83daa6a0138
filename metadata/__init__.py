"""The metadata store: hashed API keys, users, dashboards, embeds, verified queries, analyst
chats, the audit log, shared rate windows, and reaction rules with their webhook destinations.
A room below both the pipeline (ingest reads keys, the reactor reads rules) and the workspace;
it imports neither."""

from metadata._db import open_db
from metadata._migrate import SchemaStatus, SchemaUpgrade, schema_status, upgrade_schema
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
from metadata.monitors import (
    DuplicateMonitor,
    MonitorAlert,
    MonitorStore,
    SavedState,
    StoredMonitor,
    UnknownAlert,
    UnknownMonitor,
)
from metadata.outbox import (
    AttemptRow,
    DeadDraft,
    DeadLetterRow,
    Delivery,
    DeliveryRow,
    FiringDraft,
    Outbox,
    Recorded,
    Settled,
    ThrottleLimit,
    UnknownDeadLetter,
)
from metadata.reactions import (
    Destination,
    Destinations,
    DuplicateRule,
    NewDestination,
    RuleStore,
    SecretUnreadable,
    StoredRule,
    UnknownDestination,
    UnknownRule,
)
from metadata.verified import UnknownVerifiedQuery, VerifiedQueries, VerifiedQuery

__all__ = [
    "ApiKey",
    "AttemptRow",
    "ChatLog",
    "ChatSummary",
    "DeadDraft",
    "DeadLetterRow",
    "Delivery",
    "DeliveryRow",
    "Destination",
    "Destinations",
    "DuplicateMonitor",
    "DuplicateRule",
    "FiringDraft",
    "KeyStore",
    "MetadataError",
    "MonitorAlert",
    "MonitorStore",
    "NewDestination",
    "Outbox",
    "Recorded",
    "RuleStore",
    "SavedState",
    "SchemaStatus",
    "SchemaUpgrade",
    "SecretUnreadable",
    "Settled",
    "StoredChat",
    "StoredMonitor",
    "StoredRule",
    "StoredTurn",
    "ThrottleLimit",
    "UnknownAlert",
    "UnknownChat",
    "UnknownDeadLetter",
    "UnknownDestination",
    "UnknownKey",
    "UnknownMonitor",
    "UnknownRule",
    "UnknownVerifiedQuery",
    "VerifiedQueries",
    "VerifiedQuery",
    "WrongChatScope",
    "open_db",
    "schema_status",
    "upgrade_schema",
]
