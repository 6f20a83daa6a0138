"""The public Python API, for analysts who prefer code and for exported notebooks.

    from causality.api import connect, Trend, DateRange

    with connect(app_id="shop") as cz:
        table = cz.query("SELECT event_type, count(*) AS n FROM events GROUP BY 1")
        cz.chart(table)

``connect`` reads the settings (this is the composition root); the client, the insight types
and the errors come from :mod:`workspace.api`. Every query is Trino-dialect SQL that goes
through the guardrails under the client's tenant scope and is audited with source
``notebook``.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import workspace.api
from causality.settings import load_settings
from workspace.api import *  # noqa: F403 - this module is workspace.api plus connect
from workspace.api import Client
from workspace.service import Workspace

CONFIG_ENV = "CAUSALITY_CONFIG"
ACTOR_ENV = "CAUSALITY_ACTOR"

__all__ = [*workspace.api.__all__, "connect"]


def connect(config: str | Path | None = None, *, actor: str | None = None,
            app_id: str | None = None) -> Client:
    """A `Client` on the configured engine and metadata store.

    Settings come from ``config`` (a TOML file), else the file named by ``CAUSALITY_CONFIG``,
    plus the ``CAUSALITY_*`` environment variables. The actor recorded in the audit log is
    ``actor``, else ``CAUSALITY_ACTOR``, else ``notebook:<os user>``. With ``app_id`` every
    query is tenant-filtered to that app.
    """
    path = config if config is not None else os.environ.get(CONFIG_ENV) or None
    settings = load_settings(Path(path) if path is not None else None)
    who = actor or os.environ.get(ACTOR_ENV) or f"notebook:{_os_user()}"
    return Client(Workspace(settings, long_running=False), actor=who, app_id=app_id,
                  owns_workspace=True)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"
