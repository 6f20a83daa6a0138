"""Kill -9 of a JetStream cluster node under load: is every event answered 200 kept, once?

    .venv/bin/python bench/cluster.py [--trials 5] [--senders 8] [--batch 20]
                                      [--before 2000] [--after 2000]

Each trial starts a fresh cluster of three real nats-server processes (random ports, a temp
store each), an ingest edge (in a thread) and a sink (in-process) with streams of three
replicas, and closed-loop senders posting batches of unique events through the edge; a batch
answered 503, or not answered, is re-sent after Retry-After (at most 1 s here) like an SDK.
After --before events answered 200 the EVENTS stream's leader node gets SIGKILL; once
--after more are answered it is restarted on the same ports and store, --after more are sent,
then the sink drains, every partition is compacted, and the warehouse is compared with what
was answered 200. Per trial: events sent, answered 200, 503 answers (by code), lost (200 but
not in the warehouse), duplicates after compaction, and the time from the first to the last
503 (how long the edge could not store). Columns: conn = connection errors, w.dups = extra
copies the sink wrote before compaction, dups = ids answered 200 found more than once after
it. Figures, then totals; exit code 1 if anything was lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.nats_cluster import NatsCluster, Trial, kill_a_node  # noqa: E402


def run_trial(n: int, args: argparse.Namespace) -> Trial:
    with tempfile.TemporaryDirectory(prefix=f"cluster-bench-{n}-") as tmp, \
            NatsCluster(Path(tmp) / "cluster") as cluster:
        return asyncio.run(kill_a_node(
            cluster, Path(tmp), senders=args.senders, batch=args.batch, before=args.before,
            after=args.after, publish_timeout_s=args.publish_timeout,
            log=lambda line: print(f"  trial {n}: {line}", flush=True)))


def _row(name: str, t: Trial) -> str:
    codes = ", ".join(f"{code} {k}" for code, k in sorted(t.unavailable.items())) or "-"
    return (f"{name:>6} {t.sent:>7} {t.acked:>7} {sum(t.unavailable.values()):>5} "
            f"{t.connection_errors:>5} {t.lost:>5} {t.sink_duplicates:>6} {t.duplicates:>5} "
            f"{t.outage_s:>8.2f} "
            f"{t.seconds:>6.1f}  {t.killed}->{t.new_leader}  {codes}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--senders", type=int, default=8, help="concurrent closed-loop senders")
    ap.add_argument("--batch", type=int, default=20, help="events per request")
    ap.add_argument("--before", type=int, default=2000, help="events answered 200 before the kill")
    ap.add_argument("--after", type=int, default=2000,
                    help="events answered 200 after the kill, and again after the restart")
    ap.add_argument("--publish-timeout", type=float, default=5.0,
                    help="ingest.publish_timeout_s (its default: 5): how long a request waits "
                         "for a stream leader before answering 503")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)

    trials = []
    for n in range(1, args.trials + 1):
        trials.append(run_trial(n, args))
        print(_row(str(n), trials[-1]), flush=True)

    head = (f"{'trial':>6} {'sent':>7} {'200':>7} {'503':>5} {'conn':>5} {'lost':>5} "
            f"{'w.dups':>6} {'dups':>5} {'outage_s':>8} {'secs':>6}  killed->leader  503 codes")
    print()
    print(head)
    for n, t in enumerate(trials, 1):
        print(_row(str(n), t))
    total = Trial(
        sent=sum(t.sent for t in trials), acked=sum(t.acked for t in trials),
        unavailable={code: sum(t.unavailable.get(code, 0) for t in trials)
                     for code in sorted({c for t in trials for c in t.unavailable})},
        reasons={r: sum(t.reasons.get(r, 0) for t in trials)
                 for r in sorted({r for t in trials for r in t.reasons})},
        connection_errors=sum(t.connection_errors for t in trials),
        gave_up=sum(t.gave_up for t in trials), lost=sum(t.lost for t in trials),
        duplicates=sum(t.duplicates for t in trials),
        sink_duplicates=sum(t.sink_duplicates for t in trials),
        outage_s=max((t.outage_s for t in trials), default=0.0),
        killed="-", new_leader="-", seconds=sum(t.seconds for t in trials))
    print(_row("total", total) + "   (outage_s: the longest)")
    print(f"batches given up after retries: {total.gave_up}")
    for reason, k in sorted(total.reasons.items(), key=lambda kv: -kv[1]):
        print(f"503 x{k}: {reason}")
    sys.exit(1 if total.lost or total.duplicates else 0)


if __name__ == "__main__":
    main()
