"""The pipeline room's settings sections: ``[nats]``, ``[ingest]``, ``[sink]``, ``[compactor]``,
``[reactor]``.

Composed into the one settings object by :mod:`causality.settings`; each process is given
only the sections it reads.
"""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from typing import Protocol

from pydantic import Field, field_validator, model_validator

from causality.section import Section


def server_list(url: str) -> list[str]:
    """``nats://a:4222, nats://b:4222`` → the servers a client connects to and fails over
    between (nats-py takes a list; it does not split a string)."""
    return [part.strip() for part in url.split(",") if part.strip()]


REPLICAS = (1, 3, 5)  # JetStream's Raft needs an odd number of copies to keep a quorum


class NatsSettings(Section):
    """The NATS JetStream bus. ``url`` wins over host/port when set.

    A cluster: three (or five) nodes, each ``causality nats`` with the same ``cluster_name``
    and ``routes`` (every node's ``nats-route://host:cluster_port``) and its own
    ``server_name``; ``replicas = 3`` keeps every stream on three nodes, and clients get
    ``url`` = all the nodes' client URLs, comma-separated, to fail over between them.
    """

    host: str = "127.0.0.1"
    port: int = Field(4222, ge=1, le=65535)
    url: str | None = Field(None, description="nats://host:port, or several comma-separated")
    replicas: int = Field(1, description="copies of each stream: 1, or 3 or 5 in a cluster")
    server_name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="this node's name, unique and stable; default: made once, kept in the store")
    cluster_name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                     description="run `causality nats` as a cluster node")
    cluster_port: int = Field(6222, ge=0, le=65535, description="route port; 0 picks one")
    monitor_port: int | None = Field(
        None, ge=0, le=65535,
        description="`causality nats`'s monitoring port (/healthz, /varz, /jsz: probes and "
                    "the Prometheus exporter); default: a free one (8222 by convention)")
    routes: tuple[str, ...] = Field((), description="nats-route://host:port of every node")
    store_dir: Path | None = Field(None, description="default: <data_dir>/nats")
    # JetStream acknowledges at once and fsyncs on this interval; "always" fsyncs every write.
    sync_interval: str = Field("10s", pattern=r"^(always|\d+(ms|s|m))$")
    max_file_store: str = Field(
        "10G", pattern=r"^[1-9]\d*[KMGT]?B?$",
        description="JetStream's disk cap (e.g. 10G, 500M); keep it near 85 % of the volume so "
                    "the streams refuse publishes before the disk fills")
    # The EVENTS and QUARANTINE streams (pipeline.bus): how long messages are kept, and the
    # window within which a re-sent batch (same Nats-Msg-Id) is stored once.
    retention_s: float = Field(7 * 24 * 3600.0, gt=0, description="stream max age")
    duplicate_window_s: float = Field(600.0, gt=0, le=7 * 24 * 3600.0)

    @field_validator("routes", mode="before")
    @classmethod
    def _split_routes(cls, value: object) -> object:
        return server_list(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> NatsSettings:
        if self.replicas not in REPLICAS:
            raise ValueError(f"replicas must be one of {REPLICAS}, not {self.replicas}")
        if self.url is not None and not server_list(self.url):
            raise ValueError("url is empty; give nats://host:port (or several, comma-separated)")
        for route in self.routes:
            if not route.startswith("nats-route://"):
                raise ValueError(f"routes: {route!r} is not nats-route://host:port")
        return self

    @property
    def server_url(self) -> str:
        return self.url or f"nats://{self.host}:{self.port}"

    @property
    def servers(self) -> list[str]:
        """What every client connects to: ``server_url`` split on commas."""
        return server_list(self.server_url)


class IngestSettings(Section):
    """The HTTP ingest edge (``causality ingest``), Segment-compatible."""

    host: str = "127.0.0.1"
    port: int = Field(8088, ge=0, le=65535, description="0 picks a free port")
    workers: int = Field(1, ge=1, le=64, description="processes sharing the port (SO_REUSEPORT)")
    max_event_bytes: int = Field(32 * 1024, ge=256, description="one event, as sent")
    max_batch_bytes: int = Field(512 * 1024, ge=1024,
                                 description="one request body, compressed and after inflating")
    # Token bucket per API key, counting events; 0 turns the limit off.
    rate_limit_events_per_s: float = Field(20_000.0, ge=0)
    rate_limit_burst: int = Field(40_000, ge=1)
    publish_timeout_s: float = Field(5.0, gt=0, le=120, description="deadline for the PubAck")
    max_in_flight: int = Field(256, ge=1, description="concurrent JetStream publishes")
    body_timeout_s: float = Field(30.0, gt=0, description="to receive a request body")
    retry_after_s: int = Field(5, ge=1, description="Retry-After sent with 503")
    key_cache_ttl_s: float = Field(5.0, ge=0, description="a revoked key works this long")
    key_negative_ttl_s: float = Field(1.0, ge=0, description="an unknown key is re-checked after")
    # On SIGTERM /readyz answers 503 for drain_delay_s while requests are still served (so a
    # load balancer stops sending), then the listener closes and in-flight requests finish, all
    # within shutdown_timeout_s. 5 s: a few seconds for Kubernetes to take the pod out of its
    # endpoints, as long as a fast readiness probe needs to fail (periodSeconds 5 x
    # failureThreshold 1, or 2 x 2); with a slower probe set at least period x threshold (the
    # Helm chart sets 15 for its probe of 5 x 2). `causality up` sets 0.
    drain_delay_s: float = Field(5.0, ge=0, le=300)
    shutdown_timeout_s: float = Field(20.0, gt=0, description="SIGTERM to exit, at most")
    gc_interval_s: float = Field(
        1.0, gt=0, le=60,
        description="a server process collects cyclic garbage on this timer instead of "
                    "after every 700 allocations (more throughput, steadier p99)")

    @model_validator(mode="after")
    def _consistent(self) -> IngestSettings:
        if self.drain_delay_s >= self.shutdown_timeout_s:
            raise ValueError(f"drain_delay_s ({self.drain_delay_s:g}) must be less than "
                             f"shutdown_timeout_s ({self.shutdown_timeout_s:g}): the drain "
                             "delay is part of the shutdown deadline, and requests in flight "
                             "need the rest")
        return self


class SinkSettings(Section):
    """The sink (``causality sink``): JetStream ``EVENTS`` → Parquet files in the warehouse.

    Every sink process shares the durable pull consumer ``durable``. A flush writes the buffer
    when it holds ``flush_rows`` rows or ``max_buffer_bytes`` bytes (Arrow; the process holds at
    most about twice that: one buffer filling, one being written) or its oldest row is
    ``flush_interval_s`` old, and then ACKs the messages whose files are all written.
    ``max_buffer_bytes`` left unset is sized from a container memory limit (1/8 of it, see
    ``causality.container``).
    """

    durable: str = Field("sink", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                         description="JetStream consumer shared by all sink processes")
    sink_id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
                                description="in file names; default: host name + random")
    fetch_batch: int = Field(256, ge=1, le=4096, description="messages per pull request")
    fetch_timeout_s: float = Field(1.0, gt=0, le=30, description="one pull request waits this")
    flush_interval_s: float = Field(30.0, gt=0, le=3600, description="oldest buffered row, at most")
    flush_rows: int = Field(250_000, ge=1, description="buffered rows that trigger a flush")
    max_buffer_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024,
                                  description="buffered Arrow bytes that trigger a flush")
    write_threads: int = Field(2, ge=1, le=32, description="partitions written in parallel")
    flush_timeout_s: float = Field(300.0, gt=0,
                                   description="a write taking longer counts as a storage outage")
    ack_wait_s: float = Field(60.0, gt=0, le=3600,
                              description="redelivery after this without ACK or heartbeat")
    max_ack_pending: int = Field(20_000, ge=1, description="un-ACKed messages, all sinks together")
    max_deliver: int = Field(10, ge=1, le=1000,
                             description="failures of a message's own (not a storage outage, "
                                         "a shutdown or a restart) before it goes to the DLQ")
    storage_retry_max_s: float = Field(10.0, gt=0, le=600,
                                       description="longest pause between storage retries "
                                                   "while the warehouse is unreachable")
    dedup_window: int = Field(100_000, ge=0,
                              description="recent event ids remembered per app; 0 turns it off")
    lag_poll_s: float = Field(5.0, gt=0, description="consumer info (lag) poll interval")
    # The oldest unconsumed event against nats.retention_s (JetStream deletes it unread then):
    # a WARNING past the first fraction, an ERROR past the second (pipeline.backlog).
    backlog_warn_fraction: float = Field(0.5, gt=0, le=1)
    backlog_error_fraction: float = Field(0.9, gt=0, le=1)
    max_outage_s: float = Field(120.0, gt=0,
                                description="NATS unreachable this long stops the sink")
    # 20 s: inside Kubernetes' default 30 s grace period with 10 s to spare (what is not ACKed
    # by then is redelivered to another sink, so a cut-short drain loses nothing).
    shutdown_timeout_s: float = Field(20.0, gt=0, description="SIGTERM to exit, at most")
    dlq_retention_s: float = Field(30 * 24 * 3600.0, gt=0,
                                   description="dead letters kept this long")
    http_host: str = "127.0.0.1"
    http_port: int = Field(8089, ge=0, le=65535,
                           description="/livez /readyz /metrics; 0 picks a free port")

    @model_validator(mode="after")
    def _consistent(self) -> SinkSettings:
        if self.ack_wait_s <= self.flush_interval_s:
            raise ValueError(f"ack_wait_s ({self.ack_wait_s:g}) must exceed flush_interval_s "
                             f"({self.flush_interval_s:g}) so buffered messages are not "
                             "redelivered while they wait for their flush")
        if self.fetch_batch > self.max_ack_pending:
            raise ValueError(f"fetch_batch ({self.fetch_batch}) must not exceed "
                             f"max_ack_pending ({self.max_ack_pending})")
        return self


class CompactorSettings(Section):
    """Merging closed partitions into large, sorted, de-duplicated files."""

    grace_s: float = Field(3600.0, ge=0,
                           description="a partition is closed this long after its hour")
    target_mb: int = Field(256, ge=1, le=4096)
    interval_s: float = Field(300.0, gt=0)
    http_host: str = "127.0.0.1"
    http_port: int = Field(8090, ge=0, le=65535, description="/livez, /readyz, /metrics; 0 = any")


CLAIM_DEPTH = 4  # rounds of one destination's deliveries a reactor claims at once


class ReactorSettings(Section):
    """The reactor (``causality reactor``): event rules → signed webhooks, and monitors.

    Every reactor process shares the durable pull consumer ``durable`` on ``EVENTS`` (apart from
    the sink's, so either may lag or restart alone). Firings are recorded in the metadata store
    before an event is ACKed; delivery workers in every process share the outbox there.
    """

    durable: str = Field("reactor", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                         description="JetStream consumer shared by all reactor processes")
    fetch_batch: int = Field(128, ge=1, le=4096, description="messages per pull request")
    fetch_timeout_s: float = Field(0.5, gt=0, le=30, description="one pull request waits this")
    ack_wait_s: float = Field(30.0, gt=0, le=3600,
                              description="redelivery after this without ACK")
    max_ack_pending: int = Field(2_000, ge=1, description="un-ACKed messages, all reactors")
    retry_delay_s: float = Field(2.0, gt=0, le=600,
                                 description="NAK delay when the metadata store is unreachable")
    rules_poll_s: float = Field(2.0, gt=0, le=300,
                                description="how often a reactor looks for changed rules")
    # Deliveries: per destination at most `destination_concurrency` requests in flight per
    # process; a failed attempt is retried after min(cap, base * 2^(n-1)) with jitter, at least
    # the receiver's Retry-After (up to max_retry_after_s); after max_attempts it is dead.
    delivery_workers: int = Field(64, ge=1, le=1024, description="requests in flight, at most")
    destination_concurrency: int = Field(16, ge=1, le=256,
                                         description="requests in flight per destination")
    delivery_timeout_s: float = Field(10.0, gt=0, le=120, description="one webhook request")
    max_attempts: int = Field(8, ge=1, le=100, description="attempts before the DLQ")
    backoff_base_s: float = Field(1.0, gt=0, le=3600)
    backoff_cap_s: float = Field(600.0, gt=0, le=86_400)
    max_retry_after_s: float = Field(3600.0, ge=0, le=86_400)
    breaker_failures: int = Field(5, ge=1, description="consecutive failures open the breaker")
    # Destinations whose host is, or resolves only to, one of these networks are refused
    # (checked when connecting, so DNS rebinding is caught). Default: cloud metadata addresses.
    deny_networks: tuple[str, ...] = Field(
        ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32"),
        description="CIDRs webhooks may never reach; add private ranges to keep them out too")
    breaker_cooldown_s: float = Field(30.0, gt=0, le=3600)
    delivery_poll_s: float = Field(0.25, gt=0, le=60,
                                   description="how often the outbox is read for due work")
    lease_s: float = Field(60.0, gt=0, le=3600, description="a claimed delivery's lease")
    keep_log_s: float = Field(14 * 24 * 3600.0, gt=0,
                              description="delivered and dead outbox rows are kept this long")
    monitor_interval_s: float = Field(60.0, gt=0, le=86_400,
                                      description="how often monitors are evaluated")
    monitors: bool = Field(True, description="evaluate monitors in this process (one leads)")
    secret_key_file: Path | None = Field(
        None, description="32-byte key encrypting destinations' secrets; "
                          "default: <data_dir>/reactor.key (made on first use)")
    lag_poll_s: float = Field(5.0, gt=0)
    # The oldest unconsumed event against nats.retention_s (JetStream deletes it unread then):
    # a WARNING past the first fraction, an ERROR past the second (pipeline.backlog).
    backlog_warn_fraction: float = Field(0.5, gt=0, le=1)
    backlog_error_fraction: float = Field(0.9, gt=0, le=1)
    shutdown_timeout_s: float = Field(20.0, gt=0, description="SIGTERM to exit, at most")
    http_host: str = "127.0.0.1"
    http_port: int = Field(8091, ge=0, le=65535,
                           description="/livez /readyz /metrics; 0 picks a free port")

    @model_validator(mode="after")
    def _consistent(self) -> ReactorSettings:
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError("backoff_cap_s must be at least backoff_base_s")
        if self.lease_s <= CLAIM_DEPTH * self.delivery_timeout_s:
            raise ValueError(
                f"lease_s ({self.lease_s:g}) must exceed {CLAIM_DEPTH} x delivery_timeout_s "
                f"({self.delivery_timeout_s:g}): a worker holds up to {CLAIM_DEPTH} rounds of "
                "a destination's deliveries, and a lease that ends first sends them twice")
        if self.fetch_batch > self.max_ack_pending:
            raise ValueError("fetch_batch must not exceed max_ack_pending")
        for cidr in self.deny_networks:
            try:
                ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"deny_networks: {cidr!r} is not a network such as "
                                 "10.0.0.0/8 or fd00::/8") from None
        return self


class IngestProcessSettings(Protocol):
    """What one ingest process reads: the composed settings object, or an
    :class:`IngestConfig` (what the workers of a multi-process edge are handed)."""

    @property
    def ingest(self) -> IngestSettings: ...
    @property
    def nats(self) -> NatsSettings: ...
    @property
    def metadata_db_url(self) -> str: ...
    @property
    def log_level(self) -> str: ...


class IngestConfig(Section):
    """The sections an ingest process reads, as plain data that crosses a process boundary."""

    ingest: IngestSettings = IngestSettings()
    nats: NatsSettings = NatsSettings()
    metadata_db_url: str
    log_level: str = "info"

    @classmethod
    def of(cls, settings: IngestProcessSettings) -> IngestConfig:
        return cls(ingest=settings.ingest, nats=settings.nats,
                   metadata_db_url=settings.metadata_db_url, log_level=settings.log_level)
