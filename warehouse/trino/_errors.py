"""The Trino runner's errors: fetching, starting, stopping or setting up the server."""

from __future__ import annotations

from warehouse.errors import WarehouseError


class TrinoServerError(WarehouseError):
    """Trino could not be fetched, started, stopped or set up."""

    code = "trino_error"


class TrinoSetupError(TrinoServerError):
    """A tool Trino needs (a JDK, ``mvn``) is missing from this machine."""

    code = "trino_setup"
