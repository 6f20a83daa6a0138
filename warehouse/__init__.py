"""The warehouse room: where events live and what reads them.

- ``schema``, ``layout``, ``segment``: the ``events`` table, its Hive layout
  (``app_id=/dt=/hour=``) and the Segment → row mapping;
- ``storage``: the local or S3 file system under the warehouse root;
- ``engines``: the one door to the query engines, :func:`warehouse.engines.open_engine`
  (DuckDB embedded, Trino distributed), behind the ``Engine`` protocol;
- ``trino``: fetching, configuring and running a Trino server over the same files;
- ``config``: the ``[storage]``, ``[query]`` and ``[trino]`` settings sections;
- ``demo``: seeded demo events.

It imports only the leaf core (``causality.errors``, ``causality.section``); every other room
may import it. It decides no policy: that is the guardrails'.
"""
