"""The metadata store's root exception; SQLAlchemy errors are translated into it."""

from __future__ import annotations

from causality.errors import CausalityError


class MetadataError(CausalityError):
    code = "metadata_error"


class UnknownKey(MetadataError):
    code = "unknown_key"
