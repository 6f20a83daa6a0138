"""The container this process runs in: its memory limit, and the settings sized from it.

Part of the composition root: only :mod:`causality.settings` imports this module, and the
rooms get what it derives as ordinary settings values.

**The limit** is read from the cgroup file system, best effort. cgroup v2: ``memory.max``
(``max`` means none); cgroup v1: ``memory/memory.limit_in_bytes`` (a value of 2**62 or more
means none: the kernel writes LONG_MAX rounded down to a page). Each is read at the root of the
mount (``CAUSALITY_CGROUP_ROOT``, default ``/sys/fs/cgroup``), which is the container's own
cgroup under Kubernetes and Docker (a cgroup namespace, or v1's bind mount), and in this
process's own cgroup named by ``/proc/self/cgroup`` and each of its parents, for a mount that
shows the whole tree (a v2 host, a container without a cgroup namespace). Every limit found
applies, so the smallest wins. A file that is missing or unreadable counts as no limit.

**The sizing**, only when a limit exists and the setting was not set explicitly (environment,
TOML file or keyword: explicit values always win):

- ``query.duckdb_memory_limit`` = limit × 0.5. DuckDB counts only its own buffers (sorts, hash
  tables, the day cache); the workspace process also holds Python, Streamlit's sessions, the
  results it renders and the values DuckDB does not count, so half is left for them.
- ``query.duckdb_cache_mb`` = limit × 0.25, in MiB. The day cache lives inside DuckDB's memory
  limit: a quarter of the container is half of DuckDB's limit, the other half stays for queries
  (and under pressure DuckDB spills the cache's blocks to disk). When DuckDB's limit is set
  explicitly, a derived cache takes at most half of it.
- ``sink.max_buffer_bytes`` = limit ÷ 8, within 16 MiB .. 256 MiB. The sink holds about two
  buffers (one filling, one being written) and the Parquet being encoded: about 3/8 of the
  container, the rest for the interpreter, pyarrow and fetched messages. At 512 MiB this is the
  64 MiB default, measured at a peak RSS of 405 MB (``bench/sink.py``); the cap keeps a flush
  well within the shutdown deadline.

Without a limit every setting keeps its default.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.config import SinkSettings
    from warehouse.config import QuerySettings

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_ROOT_ENV = "CAUSALITY_CGROUP_ROOT"
SELF_CGROUP = Path("/proc/self/cgroup")
V1_UNLIMITED_BYTES = 1 << 62  # v1 writes 9223372036854771712 (LONG_MAX, page-aligned) for none

MIB = 1 << 20
GIB = 1 << 30
DUCKDB_MEMORY_FRACTION = 0.5
DAY_CACHE_FRACTION = 0.25
SINK_BUFFER_DIVISOR = 8
SINK_BUFFER_MIN_BYTES = 16 * MIB
SINK_BUFFER_MAX_BYTES = 256 * MIB
DUCKDB_CACHE_SHARE = 0.5  # a derived cache takes at most this share of an explicit DuckDB limit
DUCKDB_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB)")  # QuerySettings' pattern
DUCKDB_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
                "KiB": 1 << 10, "MiB": MIB, "GiB": GIB}


@dataclass(frozen=True)
class MemoryLimit:
    """The container's memory limit and the cgroup file it was read from."""

    bytes: int
    file: Path

    def __str__(self) -> str:
        return f"cgroup memory limit {human_bytes(self.bytes)}"


@dataclass(frozen=True)
class Sized:
    """One sized setting: its value and where that came from."""

    section: str
    name: str
    value: int | str
    source: str
    derived: bool  # True: computed from the limit (else explicit, or the default)

    @property
    def setting(self) -> str:
        return f"{self.section}.{self.name}"


@dataclass(frozen=True)
class Sizing:
    """What sizing from the container decided for each setting it covers."""

    limit: MemoryLimit | None
    settings: tuple[Sized, ...]

    def as_dict(self) -> dict[str, str | int | None]:
        """For ``causality config show``: the limit, its file, and each setting's source."""
        out: dict[str, str | int | None] = {
            "memory_limit": human_bytes(self.limit.bytes) if self.limit else None,
            "memory_limit_bytes": self.limit.bytes if self.limit else None,
            "memory_limit_file": str(self.limit.file) if self.limit else None,
        }
        out.update({item.setting: item.source for item in self.settings})
        return out


def human_bytes(n: int) -> str:
    """``2147483648`` → ``2.0 GiB``; below a GiB in MiB."""
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def memory_limit(root: Path | None = None, self_cgroup: Path = SELF_CGROUP) -> MemoryLimit | None:
    """The tightest cgroup memory limit over this process (v2 or v1), or None when there is
    none. ``root``: the cgroup mount (default ``$CAUSALITY_CGROUP_ROOT`` or ``/sys/fs/cgroup``);
    ``self_cgroup``: the file naming this process's cgroups."""
    if root is None:
        root = Path(os.environ.get(CGROUP_ROOT_ENV) or CGROUP_ROOT)
    v2_path, v1_path = _own_cgroups(self_cgroup)
    found = [limit for limit in (
        *(_read(d / "memory.max") for d in _up_to(root, v2_path)),
        *(_read(d / "memory.limit_in_bytes") for d in _up_to(root / "memory", v1_path)),
    ) if limit is not None]
    return min(found, key=lambda limit: limit.bytes, default=None)


def _own_cgroups(self_cgroup: Path) -> tuple[str, str]:
    """This process's v2 cgroup path and v1 memory cgroup path ("" when unknown)."""
    v2 = v1 = ""
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return v2, v1
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def _up_to(base: Path, path: str) -> list[Path]:
    """``base/path`` and each of its parents up to ``base`` itself (``path`` outside the
    mount, with ``..``, gives only ``base``)."""
    parts = [p for p in path.split("/") if p]
    if ".." in parts:
        parts = []
    return [base.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def _read(file: Path) -> MemoryLimit | None:
    try:
        text = file.read_text().strip()
    except OSError:
        return None
    if not text.isdigit():  # "max", or anything unexpected
        return None
    value = int(text)
    return MemoryLimit(value, file) if 0 < value < V1_UNLIMITED_BYTES else None


def sizing(query: QuerySettings, sink: SinkSettings, limit: MemoryLimit | None) -> Sizing:
    """Each sized setting's value and source, given the sections as set and the limit."""
    derived = {} if limit is None else _derive(limit, query)
    items = []
    for section_name, section, name in (("query", query, "duckdb_memory_limit"),
                                        ("query", query, "duckdb_cache_mb"),
                                        ("sink", sink, "max_buffer_bytes")):
        if name in section.model_fields_set:
            items.append(Sized(section_name, name, getattr(section, name), "set explicitly",
                               derived=False))
        elif name in derived:
            value, source = derived[name]
            items.append(Sized(section_name, name, value, source, derived=True))
        else:
            items.append(Sized(section_name, name, getattr(section, name),
                               "default (no cgroup memory limit)", derived=False))
    return Sizing(limit, tuple(items))


def _derive(limit: MemoryLimit, query: QuerySettings) -> dict[str, tuple[int | str, str]]:
    """Each sized setting's value from the limit, and how it was computed."""
    cache_mb = int(limit.bytes * DAY_CACHE_FRACTION) // MIB
    cache_source = f"{limit} * {DAY_CACHE_FRACTION}"
    if "duckdb_memory_limit" in query.model_fields_set:  # the cache must fit in DuckDB's limit
        duckdb_half = int(duckdb_bytes(query.duckdb_memory_limit) * DUCKDB_CACHE_SHARE) // MIB
        if duckdb_half < cache_mb:
            cache_mb = duckdb_half
            cache_source += (f", at most {DUCKDB_CACHE_SHARE} of query.duckdb_memory_limit "
                             f"{query.duckdb_memory_limit}")
    buffer = min(max(limit.bytes // SINK_BUFFER_DIVISOR, SINK_BUFFER_MIN_BYTES),
                 SINK_BUFFER_MAX_BYTES)
    bounded = "" if buffer == limit.bytes // SINK_BUFFER_DIVISOR else (
        f", within {human_bytes(SINK_BUFFER_MIN_BYTES)}..{human_bytes(SINK_BUFFER_MAX_BYTES)}")
    return {
        "duckdb_memory_limit": (f"{int(limit.bytes * DUCKDB_MEMORY_FRACTION) // MIB}MiB",
                                f"{limit} * {DUCKDB_MEMORY_FRACTION}"),
        "duckdb_cache_mb": (cache_mb, cache_source),
        "max_buffer_bytes": (buffer, f"{limit} / {SINK_BUFFER_DIVISOR}{bounded}"),
    }


def duckdb_bytes(size: str) -> int:
    """A DuckDB memory size (``4GB``: 10^9 bytes a GB; ``1.5GiB``: 2^30 a GiB) in bytes."""
    match = DUCKDB_SIZE.fullmatch(size.strip())
    if match is None:
        raise ValueError(f"{size!r} is not a DuckDB memory size such as 4GB or 1.5GiB")
    return int(float(match[1]) * DUCKDB_UNITS[match[2]])
