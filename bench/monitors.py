"""Monitors on the demo data: do they flag its injected anomalies, and only those?

Run: .venv/bin/python bench/monitors.py [--events N] [--end YYYY-MM-DD] [--seed S] [--monitors M]

Generates N demo events (default 2M, the generator's eight weeks ending at --end, default
today), writes them to a temp warehouse and reads, through the DuckDB engine, hourly events per
app and hourly ``checkout_error`` counts. Each series runs through `pipeline.monitors.evaluate`
at each sensitivity, from the first bucket with two weeks of history. Prints every alert, then
precision and recall against the anomalies `warehouse.demo` injects, and the evaluation time per
monitor (one batch call over all buckets, and one call per hour as a scheduler would make).

The demo exposes no constants for its anomalies: the windows below are derived from the code of
`warehouse.demo._inject_anomalies` (``end`` is the data's end, midnight UTC):

* spike: 1 % of activity events become ``checkout_error`` of ``shop`` users in
  [end - 12 d + 14 h, +1 h); they are also 1 % of all events moved *into* ``shop`` that hour;
* drop: 85 % of ``news`` activity events in [end - 5 d, end - 4 d) move one day earlier, so
  ``news`` also gets ≈ +85 % in [end - 6 d, end - 5 d) (a side effect, listed as its own row).

One more drop is a property of the generator, not an injection, and is listed as an
undocumented row of each app: the last day [end - 1 d, end) holds about half a day's events
(``warehouse.demo.generate`` places an activity event on day ``signup + floor(offset)``, with
offsets truncated at the data's end, so the last calendar day only receives the offsets that
fall before its users' signup time of day). A monitor that flags it is right: the data does
drop by about half; it is not the diurnal or weekly rhythm.

An incident is detected when a ``fired`` alert of its monitor falls in its window or up to two
buckets after its start; a ``fired`` alert outside every window of its monitor is a false
positive. Recall is given over the two documented anomalies and over all rows.

Then it times `pipeline.monitors.MonitorRunner` over the same warehouse: ``--monitors`` (100)
monitors of a realistic mix (per app: hourly events, users and revenue, per event type, per
country and plan, daily ones, a no_events one) in a fresh SQLite metadata store; one
``run_once`` from a fresh state (each monitor reads its history window: four weeks and five
days) and one an hour later, as the schedule would.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metadata import MonitorStore, open_db  # noqa: E402
from pipeline.monitors import (  # noqa: E402
    Alert,
    AlertKind,
    Assessment,
    BreakdownValue,
    MonitorRunner,
    MonitorSpec,
    MonitorState,
    Resolution,
    Sensitivity,
    Transition,
    evaluate,
)
from warehouse.demo import (  # noqa: E402
    APPS,
    COUNTRIES,
    EVENT_TYPES,
    PLANS,
    WEEKS,
    default_end,
    generate_and_write,
)
from warehouse.engines import Engine, open_engine  # noqa: E402

EVENTS = 2_000_000
MONITORS = 100
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HISTORY = timedelta(weeks=2)  # evaluation starts once the baseline has two weeks
DETECT_AFTER_START = 2  # buckets after an anomaly's start a fired alert still detects it
MAX_ROWS = 100_000
TIMEOUT_S = 300.0
HOURLY_BY_APP = ("SELECT app_id, date_trunc('hour', event_time) AS bucket, count(*) AS n "
                 "FROM events GROUP BY 1, 2 ORDER BY 1, 2")
HOURLY_CHECKOUT_ERROR = ("SELECT date_trunc('hour', event_time) AS bucket, count(*) AS n "
                         "FROM events WHERE event_type = 'checkout_error' GROUP BY 1 ORDER BY 1")


@dataclass(frozen=True)
class Anomaly:
    monitor: str
    label: str
    direction: str
    start: datetime
    end: datetime
    documented: bool  # named in the demo's docstring, not a side effect of injecting it

    def detects(self, at: datetime) -> bool:
        return self.start <= at < max(self.end, self.start + (DETECT_AFTER_START + 1) * HOUR)


def known_anomalies(end: datetime) -> list[Anomaly]:
    spike = end - 12 * DAY + 14 * HOUR
    drop = end - 5 * DAY
    return [
        Anomaly("checkout_error", "checkout_error spike", "spike", spike, spike + HOUR, True),
        Anomaly("events:shop", "spike events moved into shop", "spike", spike, spike + HOUR,
                False),
        Anomaly("events:news", "news -85 % day", "drop", drop, drop + DAY, True),
        Anomaly("events:news", "news +85 % day before (moved events)", "spike", drop - DAY, drop,
                False),
        *(Anomaly(f"events:{app}", f"{app} last day half-filled (generator)", "drop", end - DAY,
                  end, False) for app in APPS),
    ]


def read_series(engine: Engine) -> dict[str, list[tuple[datetime, float]]]:
    """Monitor name -> hourly ``(bucket, count)`` rows, as the engine returns them."""
    series: dict[str, list[tuple[datetime, float]]] = {f"events:{app}": [] for app in APPS}
    series["checkout_error"] = []
    for row in engine.run(HOURLY_BY_APP, MAX_ROWS, TIMEOUT_S).table.to_pylist():
        series[f"events:{row['app_id']}"].append((_utc(row["bucket"]), float(row["n"])))
    for row in engine.run(HOURLY_CHECKOUT_ERROR, MAX_ROWS, TIMEOUT_S).table.to_pylist():
        series["checkout_error"].append((_utc(row["bucket"]), float(row["n"])))
    return series


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@dataclass(frozen=True)
class Run:
    alerts: tuple[Alert, ...]
    assessments: dict[datetime, Assessment]
    batch_ms: float
    per_tick_ms: float


def run_monitor(series: list[tuple[datetime, float]], sensitivity: Sensitivity,
                start: datetime, end: datetime) -> Run:
    """One batch evaluation from ``start`` to ``end``, then the same hour by hour (timed)."""
    history_start = start - HISTORY  # leading empty hours are 0, not unknown
    t0 = time.perf_counter()
    batch = evaluate(series, Resolution.HOUR, sensitivity, MonitorState(evaluated_until=start),
                     end, history_start=history_start)
    batch_ms = (time.perf_counter() - t0) * 1000
    state, ticks = MonitorState(evaluated_until=start), 0
    alerts: list[Alert] = []
    t0 = time.perf_counter()
    now = start + HOUR
    while now <= end:
        done = evaluate(series, Resolution.HOUR, sensitivity, state, now,
                        history_start=history_start)
        state, ticks = done.state, ticks + 1
        alerts.extend(done.alerts)
        now += HOUR
    per_tick_ms = (time.perf_counter() - t0) * 1000 / max(1, ticks)
    if tuple(alerts) != batch.alerts:
        print(f"  !! hourly evaluation disagrees with the batch: {len(alerts)} vs "
              f"{len(batch.alerts)} alerts")
    return Run(batch.alerts, dict(batch.assessments), batch_ms, per_tick_ms)


def describe(at: datetime, a: Assessment) -> str:
    base = a.baseline
    if base is None:
        return f"{at:%a %m-%d %H:00}  value {a.value:>8.0f}  (no baseline: {a.reason})"
    samples = ",".join(f"{s:.0f}" for s in base.samples)
    low, high = a.expected or (0.0, 0.0)
    change = f"{a.relative_change:+6.0%}" if a.relative_change is not None else "   n/a"
    return (f"{at:%a %m-%d %H:00}  value {a.value:>8.0f}  centre {base.centre:>8.0f}  "
            f"spread {base.spread:>6.1f}  z {a.score:>+8.1f}  change {change}  "
            f"expected [{low:.0f}, {high:.0f}]  {a.direction}/{a.leaning}  samples [{samples}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--end", type=date.fromisoformat, default=None,
                        help="the data's end day (default today, as the demo)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--monitors", type=int, default=MONITORS,
                        help="monitors in the runner's timing (0: skip it)")
    args = parser.parse_args()
    end_day = args.end or default_end()
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC)
    data_start = end - timedelta(weeks=WEEKS)
    root = Path(tempfile.mkdtemp(prefix="causality-monitors-"))
    try:
        t0 = time.perf_counter()
        summary = generate_and_write(args.events, root, seed=args.seed, end=end_day)
        print(f"{summary.events:,} demo events, {data_start:%Y-%m-%d} .. {end:%Y-%m-%d} "
              f"(seed {args.seed}), written in {time.perf_counter() - t0:.1f} s")
        engine = open_engine("duckdb", warehouse=root, memory_limit="2GB")
        try:
            t0 = time.perf_counter()
            series = read_series(engine)
            print(f"hourly series read through DuckDB in {(time.perf_counter() - t0) * 1e3:.0f} ms"
                  f": " + ", ".join(f"{name} {len(rows)} rows" for name, rows in series.items()))
            precision_recall(series, end, data_start)
            time_runner(engine, root, end, args.monitors)
        finally:
            engine.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def precision_recall(series: dict[str, list[tuple[datetime, float]]], end: datetime,
                     data_start: datetime) -> None:
    start = data_start + HISTORY
    anomalies = known_anomalies(end)
    print(f"evaluated {start:%Y-%m-%d %H:00} .. {end:%Y-%m-%d %H:00} "
          f"({int((end - start) / HOUR)} hourly buckets per monitor)\nknown anomalies "
          "(derived from warehouse.demo._inject_anomalies; * = documented):")
    for an in anomalies:
        print(f"  {'*' if an.documented else ' '} {an.monitor:<15} {an.direction:<5} "
              f"{an.start:%a %m-%d %H:00} .. {an.end:%a %m-%d %H:00}  {an.label}")
    summary_rows = []
    for sensitivity in Sensitivity:
        print(f"\n=== sensitivity {sensitivity} ===")
        fired = false_pos = 0
        detected: set[int] = set()
        for name, rows in series.items():
            run = run_monitor(rows, sensitivity, start, end)
            own = [(i, an) for i, an in enumerate(anomalies) if an.monitor == name]
            print(f"{name}: {len(run.alerts)} alerts, evaluate {run.batch_ms:.0f} ms batch, "
                  f"{run.per_tick_ms:.2f} ms per hourly call")
            for alert in run.alerts:
                tag = ""
                if alert.kind is AlertKind.FIRED:
                    fired += 1
                    hits = [i for i, an in own if an.detects(alert.at)]
                    detected.update(hits)
                    false_pos += not hits
                    tag = "  TP " + anomalies[hits[0]].label if hits else "  FALSE POSITIVE"
                expected = alert.expected or (0.0, 0.0)
                print(f"  {alert.kind:<8} {alert.at:%a %m-%d %H:00}  {alert.direction:<5} "
                      f"{alert.reason:<9} value {alert.value:>7.0f}  expected "
                      f"[{expected[0]:.0f}, {expected[1]:.0f}]  z {alert.score:+.1f}{tag}")
            for i, an in own:
                if i not in detected:
                    print(f"  MISSED {an.label}; at its start and the next buckets:")
                    for k in range(3):
                        at = an.start + k * HOUR
                        print("    " + describe(at, run.assessments[at]))
            if sensitivity is Sensitivity.MEDIUM:
                for alert in run.alerts:
                    if alert.kind is AlertKind.FIRED and not any(
                            an.detects(alert.at) for _, an in own):
                        print("    FP detail: " + describe(alert.at, run.assessments[alert.at]))
        documented = [i for i, an in enumerate(anomalies) if an.documented]
        precision = (fired - false_pos) / fired if fired else float("nan")
        recall_doc = len(detected & set(documented)) / len(documented)
        recall_all = len(detected) / len(anomalies)
        summary_rows.append((sensitivity, fired, false_pos, precision, recall_doc, recall_all))
    print(f"\n{'sensitivity':<12} {'fired':>6} {'false+':>7} {'precision':>10} "
          f"{'recall (documented)':>20} {'recall (all rows)':>18}")
    for sensitivity, fired, false_pos, precision, recall_doc, recall_all in summary_rows:
        print(f"{sensitivity:<12} {fired:>6} {false_pos:>7} {precision:>10.2f} "
              f"{recall_doc:>20.2f} {recall_all:>22.2f}")



def monitor_mix(count: int) -> list[tuple[str, MonitorSpec]]:
    """A realistic mix, cycled up to ``count``: per app hourly events, users and revenue, per
    event type, per country and plan, daily ones, and a no_events one."""
    mix: list[tuple[str, MonitorSpec]] = []
    for app in APPS:
        mix += [(f"{app} events", MonitorSpec(app_id=app)),
                (f"{app} users", MonitorSpec(app_id=app, metric="users")),
                (f"{app} revenue", MonitorSpec(app_id=app, metric="sum", property="revenue",
                                               event_type="purchase")),
                (f"{app} daily events", MonitorSpec(app_id=app, resolution=Resolution.DAY)),
                (f"{app} daily users", MonitorSpec(app_id=app, metric="users",
                                                   resolution=Resolution.DAY)),
                (f"{app} daily revenue", MonitorSpec(app_id=app, metric="sum",
                                                     property="revenue", event_type="purchase",
                                                     resolution=Resolution.DAY)),
                (f"{app} tracking", MonitorSpec(app_id=app, kind="no_events"))]
        mix += [(f"{app} {t}", MonitorSpec(app_id=app, event_type=t)) for t in EVENT_TYPES]
        mix += [(f"{app} {c}", MonitorSpec(app_id=app,
                                           breakdown=BreakdownValue(key="country", value=c)))
                for c in COUNTRIES]
        mix += [(f"{app} {p} daily", MonitorSpec(app_id=app, resolution=Resolution.DAY,
                                                  breakdown=BreakdownValue(key="plan", value=p)))
                for p in PLANS]
    return [mix[i % len(mix)] for i in range(count)]


def time_runner(engine: Engine, root: Path, end: datetime, count: int) -> None:
    if count <= 0:
        return
    store = MonitorStore(open_db(f"sqlite:///{root / 'meta.db'}"))
    mix = monitor_mix(count)
    for name, spec in mix:
        store.add(name, spec.app_id, spec.model_dump_json(), "bench")
    kinds = {"hourly": sum(s.kind == "anomaly" and s.resolution is Resolution.HOUR
                           for _, s in mix),
             "daily": sum(s.resolution is Resolution.DAY for _, s in mix),
             "no_events": sum(s.kind == "no_events" for _, s in mix)}
    seen: list[Transition] = []
    runner = MonitorRunner(store, engine, seen.append, holder="bench")
    now = end - DAY + timedelta(minutes=5)  # inside the data: the last day's first hour is done
    print(f"\n=== MonitorRunner: {count} monitors ("
          + ", ".join(f"{v} {k}" for k, v in kinds.items()) + ") ===")
    for label, at in (("fresh state", now), ("one hour later", now + HOUR)):
        t0 = time.perf_counter()
        out = runner.run_once(at)
        took = time.perf_counter() - t0
        print(f"run_once {label:<15} {took:7.2f} s  ({took / count * 1e3:.0f} ms per monitor), "
              f"{len(out)} transitions, {len(runner.skipped)} skipped")


if __name__ == "__main__":
    main()
