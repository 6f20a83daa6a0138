"""The compactor's metrics, and its probes (:mod:`pipeline.probes`) on a port of their own.

Metrics: compaction runs and failed passes, partitions compacted, files removed and written,
rows read, duplicates removed, bytes before and after, seconds per run, the time of the last
run, and the process's start time and interval (so an alert sees a compactor that has been up
for several intervals without finishing a pass, though its last-run time is 0).
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pipeline.compactor import INTERVAL_S, RunResult
from pipeline.probes import NotReady, Probes, ProbeThread


class CompactorMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self.last_failure: str | None = None  # the code of the last pass, if it failed
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter("causality_compactor_runs_total", "compaction passes", registry=r)
        self.failures = Counter("causality_compactor_failures_total", "failed passes",
                                registry=r)
        self.partitions = Counter("causality_compactor_partitions_total",
                                  "partitions compacted", registry=r)
        self.files_removed = Counter("causality_compactor_files_removed_total",
                                     "small files replaced", registry=r)
        self.files_written = Counter("causality_compactor_files_written_total",
                                     "compacted files written", registry=r)
        self.rows = Counter("causality_compactor_rows_total", "rows read", registry=r)
        self.duplicates = Counter("causality_compactor_duplicates_removed_total",
                                  "duplicate event_ids removed", registry=r)
        self.bytes_in = Counter("causality_compactor_bytes_in_total", "bytes read", registry=r)
        self.bytes_out = Counter("causality_compactor_bytes_out_total", "bytes written",
                                 registry=r)
        self.seconds = Histogram("causality_compactor_run_seconds", "seconds per pass",
                                 buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 1800), registry=r)
        self.last_run = Gauge("causality_compactor_last_run_timestamp_seconds",
                              "unix time of the last finished pass", registry=r)
        self.started = Gauge("causality_compactor_start_timestamp_seconds",
                             "unix time the compactor started", registry=r)
        self.started.set_to_current_time()
        self.interval = Gauge("causality_compactor_interval_seconds",
                              "compactor.interval_s: seconds between passes", registry=r)
        self.interval.set(interval_s)

    def failed(self, code: str) -> None:
        self.failures.inc()
        self.last_failure = code

    def observe(self, result: RunResult) -> None:
        self.last_failure = None
        self.runs.inc()
        self.seconds.observe(result.seconds)
        self.last_run.set_to_current_time()
        for p in result.partitions:
            self.partitions.inc()
            self.files_removed.inc(p.files_in)
            self.files_written.inc(p.files_out)
            self.rows.inc(p.rows_in)
            self.duplicates.inc(p.duplicates)
            self.bytes_in.inc(p.bytes_in)
            self.bytes_out.inc(p.bytes_out)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def serve(metrics: CompactorMetrics, host: str, port: int,
          ready: threading.Event) -> ProbeThread:
    """Start the probes in a daemon thread; ``ready`` is set once the first pass finished.
    Unready while the last pass failed, too (it is retried)."""

    async def last_pass_done() -> None:
        failure = metrics.last_failure
        if failure is not None:
            raise NotReady("the last compaction pass failed", code="compaction_failing",
                           hint="see the compactor's log; the pass is retried", failure=failure)
        if not ready.is_set():
            raise NotReady("the first compaction pass has not finished", code="not_ready",
                           hint="wait")

    return ProbeThread(Probes(metrics, last_pass_done), host, port, name="compactor-http")
