"""The pipeline room: events from HTTP to Parquet, and the processes that move them.

It owns the bus contract (:mod:`pipeline.bus`: JetStream streams and message format), the
``nats-server`` it runs (:mod:`pipeline.natsd`), the ingest edge (:mod:`pipeline.ingest`), the
sink (:mod:`pipeline.sink`), the compactor (:mod:`pipeline.compactor`, its metrics in
:mod:`pipeline.compactor_http`), the probes every process serves (:mod:`pipeline.probes`), its
settings sections (:mod:`pipeline.config`), JSON log lines (:mod:`pipeline.logs`) and its root
exception (:mod:`pipeline.errors`). It reads API keys from :mod:`metadata` and writes files
through :mod:`warehouse.storage`; it never imports the workspace.
"""
