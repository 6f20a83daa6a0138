"""A real Trino 476 on this machine: fetched once through Maven, run as a single node.

Modules by purpose:

- :mod:`~warehouse.trino.fetch`: ``fetch()`` brings the server and its Hive plugin through
  ``mvn`` into a cache dir (``~/.cache/causality/trino-476``, env ``CAUSALITY_TRINO_CACHE``) and
  checks the JDK (≥ 24; env ``CAUSALITY_TRINO_JAVA_HOME``);
- :mod:`~warehouse.trino.config`: the ``etc/`` the server reads, its access rules and resource
  groups;
- :mod:`~warehouse.trino.server`: ``TrinoServer``, the process, and ``install_trino`` (the fetch
  plus one recorded start-up);
- :mod:`~warehouse.trino.register`: ``register_events_table``, the events table on a running
  server.

The query engine over it is :mod:`warehouse.engines.trino_engine`.

``TrinoServer`` writes its own ``etc/`` under a data dir and runs ``bin/launcher run``:

- one node, coordinator and worker, bound to loopback by default;
- catalog ``lake``: Hive connector with a file metastore and the native local file system. That
  file system cannot reach outside its root (``local.location``), and the metastore must live on
  it but not inside the warehouse, so the root is ``<data_dir>/fs`` holding ``metastore/`` and a
  symlink ``warehouse`` → the warehouse dir: ``local:///warehouse/events`` is
  ``<warehouse>/events``, and nothing else on the machine is reachable through the catalog.
  External tables may be created, never written to;
- ``hive.security=allow-all`` in the catalog, with a file-based *system* access control on top
  (``etc/access-control.properties`` + ``etc/rules.json``): user ``causality_admin`` may do
  anything, user ``causality_reader`` may only read catalog ``lake`` (SELECT, SHOW, DESCRIBE) and
  see only its own queries; every other user is refused. These are authorization rules only:
  nothing authenticates the user name a client sends, which is one reason the server listens on
  127.0.0.1 unless told otherwise;
- resource groups by query source (``etc/resource-groups.properties`` + ``resource-groups.json``,
  the file-based manager), selected on the client ``source`` the engine sends,
  ``causality-<source>`` (:func:`client_source`). Under the root ``causality`` (12 running):
  ``dashboard`` and ``embed`` (8 each, scheduling weight 4); ``adhoc`` (4 in all, weight 1)
  holding ``sql``, ``chat`` and ``notebook`` (2 each); ``internal`` (2, weight 2) for queries
  without a source (catalog reads, estimates). The ad-hoc sources and internal reads never hold
  more than 6 of the 12 slots, so dashboards and embeds always have 6: an analyst's heavy scan
  queues behind its own kind instead. Soft memory limits (share of the cluster's memory above
  which a group's new queries wait): 60 % for dashboard and embed, 40 % for adhoc (30 % per
  source), 20 % internal. The admin user's queries run in the root group ``admin``;
- regular expressions on RE2J (``deprecated.regex-library``, the 476 name of ``regex-library``),
  linear in the input: a pattern such as ``(a+)+$`` cannot backtrack for hours, in a query or
  while the planner folds constants (where no execution time limit applies).

Ready means ``GET /v1/info`` says ``"starting": false`` and ``SELECT 1`` answers; the first
fetch also records a start-up into a JDK AOT cache (JEP 514) that halves later start-ups.
:func:`register_events_table` creates ``lake.analytics.events``, syncs its partitions and
returns once the table can be read (a node that has just started reads tables only after it
has announced its catalogs, a moment after ``SELECT 1`` answers); call it again after new
partitions land.

:func:`install_trino` is the fetch plus the AOT recording (what ``causality trino fetch`` runs);
the bare fetch is ``warehouse.trino.fetch.fetch`` (not re-exported: it would hide its module).
"""

from warehouse.trino._errors import TrinoServerError, TrinoSetupError
from warehouse.trino.config import ADMIN_USER, CATALOG, READER_USER, SCHEMA, TABLE, client_source
from warehouse.trino.fetch import TRINO_VERSION
from warehouse.trino.register import register_events_table
from warehouse.trino.server import TrinoServer, install_trino

__all__ = [
    "ADMIN_USER",
    "CATALOG",
    "READER_USER",
    "SCHEMA",
    "TABLE",
    "TRINO_VERSION",
    "TrinoServer",
    "TrinoServerError",
    "TrinoSetupError",
    "client_source",
    "install_trino",
    "register_events_table",
]
