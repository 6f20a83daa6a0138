"""Warehouse storage: a local directory (default) or S3, both through ``pyarrow.fs``.

Files become visible atomically: locally a file is written under a hidden temporary name in its
partition directory, fsynced, then renamed into place (and the directory fsynced); on S3 an
object appears only when its single or multipart upload completes. Temporary names start with
``.`` and end in ``.tmp`` so neither DuckDB's ``*.parquet`` glob nor Trino's Hive reader (which
skips ``.``/``_`` names) ever reads a half-written file.

Swapping files (the compactor replacing small files with a merged one) happens under an
exclusive *swap lock* that local readers (the DuckDB engine) hold shared for each query, with a
gate so a waiting swap is not starved: a local query sees a partition either entirely before or
entirely after a swap, never both or neither. On S3 there are no locks (see the compactor).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from warehouse.errors import WarehouseError
from warehouse.layout import CHANGES_MARKER, EVENTS_DIR, Partition, is_data_file

ZSTD_LEVEL = 1  # level 1 beat level 3 on this class of machine (DESIGN.md field notes)
ROW_GROUP_ROWS = 128 * 1024
HEALTH_DIR = "_health"  # canary objects of :meth:`Storage.probe`; outside the events tree


class StorageError(WarehouseError):
    code = "storage_error"


@dataclass(frozen=True)
class FileInfo:
    path: str  # relative to the warehouse root
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class S3Options:
    endpoint: str | None = None
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = None
    scheme: str = "https"

    def filesystem(self) -> pafs.S3FileSystem:
        endpoint, scheme = self.endpoint, self.scheme
        if endpoint and "://" in endpoint:
            scheme, endpoint = endpoint.split("://", 1)
        return pafs.S3FileSystem(access_key=self.access_key, secret_key=self.secret_key,
                                 region=self.region, endpoint_override=endpoint, scheme=scheme)


@contextlib.contextmanager
def _flock(root: str, name: str, mode: int) -> Iterator[None]:
    fd = os.open(os.path.join(root, name), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class Storage:
    """The warehouse root on one filesystem."""

    def __init__(self, uri: str, s3: S3Options | None = None,
                 filesystem: pafs.FileSystem | None = None):
        self.uri = uri
        self.is_s3 = uri.startswith("s3://")
        if self.is_s3:
            self.fs = filesystem or (s3 or S3Options()).filesystem()
            self.root = uri.removeprefix("s3://").rstrip("/")
        else:
            self.fs = filesystem or pafs.LocalFileSystem()
            self.root = str(Path(uri).resolve())
            Path(self.root, EVENTS_DIR).mkdir(parents=True, exist_ok=True)

    def abs(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    # -- writing ---------------------------------------------------------------------------
    def write_parquet(self, partition: Partition, table: pa.Table, name: str,
                      row_group_rows: int = ROW_GROUP_ROWS) -> FileInfo:
        """Write ``table`` as ``<partition>/<name>.parquet``, visible only once complete."""
        return self.stage_parquet(partition, table, name, row_group_rows).commit()

    def stage_parquet(self, partition: Partition, table: pa.Table, name: str,
                      row_group_rows: int = ROW_GROUP_ROWS) -> StagedFile:
        """Write durably under a hidden name; :meth:`StagedFile.commit` makes it visible.

        On S3 the upload itself is the commit (an object is visible once complete).
        """
        rel = f"{partition.path}/{name}.parquet"
        opts = {"compression": "zstd", "compression_level": ZSTD_LEVEL,
                "row_group_size": row_group_rows}
        try:
            if self.is_s3:
                pq.write_table(table, self.abs(rel), filesystem=self.fs, **opts)
                return StagedFile(self, rel, None)
            final = Path(self.abs(rel))
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.parent / f".{uuid.uuid4().hex}.parquet.tmp"
            try:
                with open(tmp, "wb") as fh:
                    pq.write_table(table, fh, **opts)
                    fh.flush()
                    os.fsync(fh.fileno())
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return StagedFile(self, rel, tmp)
        except (OSError, pa.ArrowException) as err:
            raise StorageError(f"cannot write {rel}: {err}", code="write_failed",
                               hint="check free space, permissions or the S3 endpoint") from None

    def probe(self, name: str) -> None:
        """Write, read back and delete a tiny object ``_health/<name>``: raises
        :class:`StorageError` (``storage_unavailable``) unless the warehouse takes writes now."""
        rel = f"{HEALTH_DIR}/{name}"
        token = uuid.uuid4().hex.encode()
        try:
            if not self.is_s3:
                self.fs.create_dir(self.abs(HEALTH_DIR), recursive=True)
            with self.fs.open_output_stream(self.abs(rel)) as out:
                out.write(token)
            with self.fs.open_input_stream(self.abs(rel)) as inp:
                got = inp.read()
            self.fs.delete_file(self.abs(rel))
        except (OSError, pa.ArrowException) as err:
            raise StorageError(f"cannot write {rel}: {err}", code="storage_unavailable",
                               hint="check the warehouse location, free space, permissions "
                                    "or the S3 endpoint and credentials") from None
        if got != token:
            raise StorageError(f"{rel} read back other bytes than were written",
                               code="storage_unavailable", hint="check the warehouse storage")

    @contextlib.contextmanager
    def swap_lock(self) -> Iterator[None]:
        """Exclusive: no local query runs while files are swapped (no-op on S3)."""
        if self.is_s3:
            yield
            return
        with _flock(self.root, ".lock-gate", fcntl.LOCK_EX), \
                _flock(self.root, ".lock-swap", fcntl.LOCK_EX):
            yield

    @contextlib.contextmanager
    def read_lock(self) -> Iterator[None]:
        """Shared, held for one query: a swap waits for it, and it waits for a swap."""
        if self.is_s3:
            yield
            return
        with _flock(self.root, ".lock-gate", fcntl.LOCK_SH):
            swap = _flock(self.root, ".lock-swap", fcntl.LOCK_SH)
            swap.__enter__()
        try:
            yield
        finally:
            swap.__exit__(None, None, None)

    # -- reading and listing -----------------------------------------------------------------
    def partitions(self) -> list[Partition]:
        """Every partition that holds at least one data file."""
        seen = {Partition.parse(f.path.split("/", 1)[1].rsplit("/", 1)[0])
                for f in self._list(EVENTS_DIR)}
        return sorted(seen)

    def files(self, partition: Partition) -> list[FileInfo]:
        return self._list(partition.path)

    def _list(self, rel_dir: str) -> list[FileInfo]:
        selector = pafs.FileSelector(self.abs(rel_dir), recursive=True, allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except (OSError, pa.ArrowException) as err:
            raise StorageError(f"cannot list {rel_dir}: {err}", code="list_failed",
                               hint="check the warehouse location and credentials") from None
        prefix = len(self.root) + 1
        out = [FileInfo(i.path[prefix:], i.size or 0, i.mtime_ns or 0) for i in infos
               if i.type == pafs.FileType.File and is_data_file(i.base_name)]
        return sorted(out, key=lambda f: f.path)

    def read(self, files: list[FileInfo]) -> pa.Table:
        try:
            tables = [pq.read_table(self.abs(f.path), filesystem=self.fs) for f in files]
        except (OSError, pa.ArrowException) as err:
            raise StorageError(f"cannot read partition files: {err}", code="read_failed",
                               hint="a file may have been removed by another compactor") from None
        return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})

    def delete(self, files: list[FileInfo]) -> None:
        for f in files:
            try:
                self.fs.delete_file(self.abs(f.path))
            except FileNotFoundError:
                continue
            except (OSError, pa.ArrowException) as err:
                raise StorageError(f"cannot delete {f.path}: {err}", code="delete_failed",
                                   hint="check permissions") from None
        if files:
            self.touch_changes()

    def touch_changes(self) -> None:
        """Move the change marker's mtime strictly forward (local warehouses only)."""
        if self.is_s3:
            return
        marker = Path(self.root, EVENTS_DIR, CHANGES_MARKER)
        try:
            try:
                before = marker.stat().st_mtime_ns
            except FileNotFoundError:
                marker.touch()
                before = 0
            now = max(time.time_ns(), before + 1)
            os.utime(marker, ns=(now, now))
        except OSError as err:
            raise StorageError(f"cannot touch {marker}: {err}", code="write_failed",
                               hint="check permissions on the warehouse directory") from None

    def total_bytes(self) -> int:
        return sum(f.size for f in self._list(EVENTS_DIR))


@dataclass(frozen=True)
class StagedFile:
    """A durably written file that is not visible yet (locally: a hidden temp file)."""

    storage: Storage
    rel: str
    tmp: Path | None

    def commit(self) -> FileInfo:
        """Make the file visible atomically (rename, then fsync the directory)."""
        final = self.storage.abs(self.rel)
        try:
            if self.tmp is not None:
                os.rename(self.tmp, final)
                dir_fd = os.open(os.path.dirname(final), os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
            info = self.storage.fs.get_file_info(final)
            self.storage.touch_changes()
        except (OSError, pa.ArrowException) as err:
            raise StorageError(f"cannot commit {self.rel}: {err}", code="write_failed",
                               hint="check permissions and free space") from None
        return FileInfo(self.rel, info.size or 0, info.mtime_ns or 0)

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
