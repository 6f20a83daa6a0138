"""The ``causality`` command line. Every registered command works; each has ``--help``.

Layout, one way round (no module imports back up):

- ``_app``: the click group :data:`main` and what commands share (``settings_of``,
  ``policy_of``, ``signal_latch``, ``hard_exit``, ``with_payload``, the error-to-exit-code
  group class). Imports no command.
- one module per command group, each a set of standalone click objects listed in ``COMMANDS``:
  ``config`` (version, config show), ``nats``, ``ingest`` (ingest, keys), ``sink`` (sink, dlq),
  ``backlog`` (every consumer's backlog against the stream's max age), ``reactor``,
  ``reactions`` (rules, reactions dlq|deliveries|attempts), ``destinations``
  (destinations, destinations listen), ``monitors`` (monitors, alerts), ``data`` (demo-data,
  compact), ``trino``, ``sql`` (sql, audit), ``ai`` (ask, eval, verified), ``notebook``,
  ``workspace`` (workspace, users), ``metadata`` (metadata status|upgrade) and ``up``, whose
  sequence lives in :mod:`causality.supervisor`. They import ``_app`` (and ``reactions``,
  ``destinations`` and ``monitors`` their shared ``_checks``, ``sql`` and ``ai`` the
  ``--format table|csv|json`` helpers of ``_output``), never this package or each other.
- this module registers every ``COMMANDS`` on :data:`main`; ``causality`` (the console script)
  and ``python -m causality`` run :data:`main`.

Heavy dependencies are imported inside the commands, so each process loads only what it runs.
"""

from causality.cli import (
    ai,
    backlog,
    config,
    data,
    destinations,
    ingest,
    metadata,
    monitors,
    nats,
    notebook,
    reactions,
    reactor,
    sink,
    sql,
    trino,
    up,
    workspace,
)
from causality.cli._app import main

__all__ = ["main"]


def _register() -> None:
    for module in (config, nats, ingest, sink, backlog, reactor, destinations, reactions,
                   monitors, data, trino, sql, ai, notebook, workspace, metadata, up):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
