"""Seeded, deterministic demo events written straight into the warehouse layout.

The story the data tells (so analysts and tests can find it):

* three apps of different sizes (``shop`` 50 %, ``news`` 30 %, ``fitness`` 20 %);
* users sign up over the first seven of eight weeks, each with a country, plan and device;
* a funnel ``signup`` → ``activation`` (≈ 55 %) → ``purchase`` (≈ 45 % of activated, with
  ``revenue``), web users convert worse than app users;
* activity decays after signup (mean 12 days), so weekly retention falls ≈ 44 % per week;
* a diurnal rhythm peaking in the evening;
* anomalies: a spike of ``checkout_error`` in ``shop`` at 14:00 twelve days before the end, and a
  day five days before the end on which ``news`` loses 85 % of its traffic.

Everything is vectorised with numpy and built as Arrow arrays; ten million events take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from warehouse.schema import EVENTS_SCHEMA, PARTITION_SCHEMA
from warehouse.storage import Storage

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
WEEKS = 8
EVENTS_PER_USER = 50
ACTIVITY_MEAN_DAYS = 12.0

APPS = ("shop", "news", "fitness")
APP_WEIGHTS = (0.5, 0.3, 0.2)
COUNTRIES = ("US", "DE", "GB", "FR", "IN", "BR", "JP", "CA")
COUNTRY_WEIGHTS = (0.34, 0.12, 0.11, 0.08, 0.14, 0.09, 0.07, 0.05)
PLANS = ("free", "pro", "enterprise")
PLAN_WEIGHTS = (0.70, 0.25, 0.05)
DEVICES = ("ios", "android", "web")
DEVICE_WEIGHTS = (0.40, 0.35, 0.25)
ACTIVATION_RATE = {"ios": 0.60, "android": 0.57, "web": 0.45}
PURCHASE_RATE = 0.45
PATHS = ("/", "/pricing", "/docs", "/blog", "/product", "/checkout")

# (event_type, category, weight) of everyday activity.
ACTIVITY = (
    ("page", "page", 0.28),
    ("screen", "screen", 0.20),
    ("search", "engagement", 0.10),
    ("click", "engagement", 0.12),
    ("add_to_cart", "commerce", 0.08),
    ("share", "engagement", 0.04),
    ("video_play", "engagement", 0.06),
    ("notification_open", "engagement", 0.09),
    ("settings_changed", "engagement", 0.03),
)
FUNNEL = (("signup", "lifecycle"), ("activation", "lifecycle"), ("purchase", "commerce"))
EVENT_TYPES = tuple(t for t, _, _ in ACTIVITY) + tuple(t for t, _ in FUNNEL) + ("checkout_error",)
CATEGORIES = tuple(c for _, c, _ in ACTIVITY) + tuple(c for _, c in FUNNEL) + ("error",)
# Diurnal weights for the 24 UTC hours: quiet nights, an evening peak.
HOURLY = np.array([2, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 6, 7, 7, 6, 6, 6, 7, 8, 9, 9, 8, 6, 4], float)


@dataclass(frozen=True)
class DemoSummary:
    events: int
    users: int
    files: int
    start: datetime
    end: datetime
    by_app: dict[str, int] = field(default_factory=dict)
    by_event_type: dict[str, int] = field(default_factory=dict)


def default_end() -> date:
    """Data ends at today's midnight (UTC) so 'last week' means something in the demo."""
    return datetime.now(UTC).date()


def generate(n_events: int, seed: int = 42, end: date | None = None) -> pa.Table:
    """``n_events`` rows in :data:`EVENTS_SCHEMA`, the same for the same seed and end date."""
    if n_events < 0:
        raise ValueError("n_events must be >= 0")
    end_day = end or default_end()
    end_us = int(datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC).timestamp() * 1e6)
    start_us = end_us - WEEKS * 7 * DAY_US
    rng = np.random.default_rng(seed)

    n_users = max(1, n_events // EVENTS_PER_USER)
    u_app = rng.choice(len(APPS), n_users, p=APP_WEIGHTS)
    u_country = rng.choice(len(COUNTRIES), n_users, p=COUNTRY_WEIGHTS)
    u_plan = rng.choice(len(PLANS), n_users, p=PLAN_WEIGHTS)
    u_device = rng.choice(len(DEVICES), n_users, p=DEVICE_WEIGHTS)
    u_signup = start_us + rng.integers(0, (WEEKS - 1) * 7 * DAY_US, n_users)

    # Funnel: each step happens with a rate, some time after the previous one.
    act_p = np.array([ACTIVATION_RATE[d] for d in DEVICES])[u_device]
    activated = rng.random(n_users) < act_p
    t_act = u_signup + (rng.exponential(1.0, n_users) * DAY_US).astype(np.int64)
    activated &= t_act < end_us
    purchased = activated & (rng.random(n_users) < PURCHASE_RATE)
    t_buy = t_act + (rng.exponential(2.0, n_users) * DAY_US).astype(np.int64)
    purchased &= t_buy < end_us
    f_user = np.concatenate([np.arange(n_users), np.flatnonzero(activated),
                             np.flatnonzero(purchased)])
    f_time = np.concatenate([u_signup, t_act[activated], t_buy[purchased]])
    n_act = int(activated.sum())
    f_type = np.concatenate([
        np.full(n_users, len(ACTIVITY)), np.full(n_act, len(ACTIVITY) + 1),
        np.full(int(purchased.sum()), len(ACTIVITY) + 2)])
    if len(f_user) > n_events:
        keep = np.sort(rng.permutation(len(f_user))[:n_events])
        f_user, f_time, f_type = f_user[keep], f_time[keep], f_type[keep]

    # Activity: engaged and converted users do more; it decays after signup.
    n_act_events = n_events - len(f_user)
    weight = rng.lognormal(0.0, 0.8, n_users) * np.where(activated, 1.5, 1.0)
    weight *= np.where(purchased, 1.6, 1.0)
    a_user = rng.choice(n_users, n_act_events, p=weight / weight.sum())
    room_days = (end_us - u_signup[a_user]) / DAY_US
    u = rng.random(n_act_events)
    offset_days = -ACTIVITY_MEAN_DAYS * np.log1p(-u * -np.expm1(-room_days / ACTIVITY_MEAN_DAYS))
    day_start = u_signup[a_user] + np.floor(offset_days).astype(np.int64) * DAY_US
    day_start -= (day_start - start_us) % DAY_US
    in_day = rng.choice(24, n_act_events, p=HOURLY / HOURLY.sum()) * HOUR_US
    in_day += rng.integers(0, HOUR_US, n_act_events)
    a_time = np.maximum(day_start + in_day, u_signup[a_user] + 1_000_000)
    a_time = np.minimum(a_time, end_us - 1)
    a_type = rng.choice(len(ACTIVITY), n_act_events, p=[w for _, _, w in ACTIVITY])

    user = np.concatenate([f_user, a_user])
    etime = np.concatenate([f_time, a_time])
    etype = np.concatenate([f_type, a_type])
    _inject_anomalies(rng, user, etime, etype, u_app, u_signup, len(f_user), end_us)
    return _to_table(rng, user, etime, etype, u_app, u_country, u_plan, u_device)


def _inject_anomalies(
    rng: np.random.Generator, user: np.ndarray, etime: np.ndarray, etype: np.ndarray,
    u_app: np.ndarray, u_signup: np.ndarray, first_activity: int, end_us: int,
) -> None:
    """Move existing events in place (the total stays exact): a spike and a drop."""
    spike_start = end_us - 12 * DAY_US + 14 * HOUR_US
    shop_users = np.flatnonzero((u_app == 0) & (u_signup < spike_start))
    n_spike = min((len(etime) - first_activity) // 100, len(etime) - first_activity)
    if len(shop_users) and n_spike > 0:
        idx = first_activity + rng.choice(len(etime) - first_activity, n_spike, replace=False)
        user[idx] = rng.choice(shop_users, n_spike)
        etime[idx] = spike_start + rng.integers(0, HOUR_US, n_spike)
        etype[idx] = len(EVENT_TYPES) - 1
    drop_start = end_us - 5 * DAY_US
    in_drop = (u_app[user] == 1) & (etime >= drop_start) & (etime < drop_start + DAY_US)
    in_drop[:first_activity] = False
    moved = in_drop & (rng.random(len(etime)) < 0.85)
    etime[moved] -= DAY_US


def _hex_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """n random UUID-shaped strings, built without a Python loop."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = digits[raw >> 4]
    hexed[:, 1::2] = digits[raw & 0x0F]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for dst, src in ((slice(0, 8), slice(0, 8)), (slice(9, 13), slice(8, 12)),
                     (slice(14, 18), slice(12, 16)), (slice(19, 23), slice(16, 20)),
                     (slice(24, 36), slice(20, 32))):
        out[:, dst] = hexed[:, src]
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.tobytes()))


def _vocab(values: tuple[str, ...], idx: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(idx))


def _to_table(
    rng: np.random.Generator, user: np.ndarray, etime: np.ndarray, etype: np.ndarray,
    u_app: np.ndarray, u_country: np.ndarray, u_plan: np.ndarray, u_device: np.ndarray,
) -> pa.Table:
    n = len(user)
    order = np.lexsort((etime, u_app[user]))
    user, etime, etype = user[order], etime[order], etype[order]
    app, country = u_app[user], u_country[user]
    plan, device = u_plan[user], u_device[user]

    ts = pa.array(etime, pa.timestamp("us", tz="UTC"))
    received = pa.array(etime + rng.integers(50_000, 3_000_000, n), pa.timestamp("us", tz="UTC"))
    uid = pc.binary_join_element_wise("u", pc.utf8_lpad(pc.cast(pa.array(user), pa.string()),
                                                         7, "0"), "")
    anon = pc.binary_join_element_wise("a", pc.cast(pa.array(user * 7919 + 17), pa.string()), "")
    anonymous = rng.random(n) < 0.08
    anonymous[etype >= len(ACTIVITY)] = False
    user_id = pc.if_else(pa.array(anonymous), pa.nulls(n, pa.string()), uid)
    day_idx = pc.cast(pa.array(etime // DAY_US), pa.string())
    bucket = pc.cast(pa.array((etime % DAY_US) // (3 * HOUR_US)), pa.string())
    session = pc.binary_join_element_wise("s", pc.cast(pa.array(user), pa.string()), day_idx,
                                          bucket, "-")

    revenue = np.round(rng.lognormal(3.4, 0.6, n) * np.array([1.0, 1.8, 6.0])[plan], 2)
    extra = pc.if_else(
        pa.array(etype == len(ACTIVITY) + 2),
        pc.binary_join_element_wise(',"revenue":', pc.cast(pa.array(revenue), pa.string()), ""),
        pc.if_else(pa.array(etype == 0),
                   pc.binary_join_element_wise(',"path":"', _vocab(PATHS, rng.integers(
                       0, len(PATHS), n)), '"', ""),
                   pa.scalar("")))
    properties = pc.binary_join_element_wise(
        '{"country":"', _vocab(COUNTRIES, country), '","plan":"', _vocab(PLANS, plan),
        '","device":"', _vocab(DEVICES, device), '"', extra, "}", "")
    context = pc.binary_join_element_wise(
        '{"library":{"name":"causality-demo","version":"1"},"device":{"type":"',
        _vocab(DEVICES, device), '"},"locale":"en-', _vocab(COUNTRIES, country), '"}', "")

    # Partition keys through small vocabularies: pc.strftime is ~100x slower here.
    days = etime // DAY_US
    first_day = int(days.min()) if n else 0
    n_days = int(days.max()) - first_day + 1 if n else 0
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    day_names = tuple(f"{epoch + timedelta(days=first_day + i):%Y-%m-%d}" for i in range(n_days))
    dt = _vocab(day_names, days - first_day)
    hour = _vocab(tuple(f"{h:02d}" for h in range(24)), (etime % DAY_US) // HOUR_US)
    columns = {
        "event_id": _hex_ids(rng, n),
        "event_type": _vocab(EVENT_TYPES, etype),
        "category": _vocab(CATEGORIES, etype),
        "user_id": user_id,
        "anonymous_id": anon,
        "session_id": session,
        "event_time": ts,
        "received_at": received,
        "properties": properties,
        "context": context,
        "app_id": _vocab(APPS, app),
        "dt": dt,
        "hour": hour,
    }
    return pa.Table.from_pydict(columns, schema=EVENTS_SCHEMA)


def write(table: pa.Table, warehouse: Path, files_per_partition: int = 1,
          basename: str = "demo") -> int:
    """Write rows into ``<warehouse>/events/app_id=/dt=/hour=/`` and return the file count."""
    root = Path(warehouse) / "events"
    root.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    rows_per_partition = max(1, table.num_rows // max(1, _partition_count(table)))
    ds.write_dataset(
        table,
        root,
        format="parquet",
        partitioning=ds.partitioning(PARTITION_SCHEMA, flavor="hive"),
        basename_template=f"{basename}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd",
                                                               compression_level=1),
        max_partitions=1_000_000,
        max_open_files=4096,
        max_rows_per_file=max(1, -(-rows_per_partition // files_per_partition))
        if files_per_partition > 1 else 0,
        max_rows_per_group=min(1 << 20, max(1, -(-rows_per_partition // files_per_partition)))
        if files_per_partition > 1 else 1 << 20,
        preserve_order=True,
        file_visitor=lambda f: written.append(f.path),
    )
    Storage(str(warehouse)).touch_changes()  # engines' day caches look again
    return len(written)


def _partition_count(table: pa.Table) -> int:
    keys = table.select(["app_id", "dt", "hour"]).group_by(["app_id", "dt", "hour"]).aggregate([])
    return int(keys.num_rows)


def generate_and_write(n_events: int, warehouse: Path, seed: int = 42, end: date | None = None,
                       files_per_partition: int = 1) -> DemoSummary:
    table = generate(n_events, seed=seed, end=end)
    files = write(table, warehouse, files_per_partition=files_per_partition)
    end_day = end or default_end()
    end_dt = datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC)

    def counts(col: str) -> dict[str, int]:
        vc = pc.value_counts(table[col]).to_pylist()
        return {v["values"]: v["counts"] for v in sorted(vc, key=lambda v: -v["counts"])}

    return DemoSummary(
        events=table.num_rows,
        users=pc.count_distinct(table["user_id"]).as_py(),
        files=files,
        start=end_dt - timedelta(weeks=WEEKS),
        end=end_dt,
        by_app=counts("app_id"),
        by_event_type=counts("event_type"),
    )


def read_back_summary(warehouse: Path) -> str:
    """Events per app and type, read back from the Parquet files by DuckDB, as a text table."""
    import duckdb

    glob = str(Path(warehouse) / "events" / "*" / "*" / "*" / "*.parquet")
    con = duckdb.connect()
    rows = con.execute(
        "select app_id, event_type, count(*) as events, count(distinct user_id) as users "
        "from read_parquet($glob, hive_partitioning = true, hive_types_autocast = false) "
        "group by all order by app_id, events desc",
        {"glob": glob},
    ).fetchall()
    lines = [f"{'app_id':<10} {'event_type':<18} {'events':>10} {'users':>8}"]
    lines += [f"{a:<10} {t:<18} {n:>10,} {u:>8,}" for a, t, n, u in rows]
    return "\n".join(lines)
