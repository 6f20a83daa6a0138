"""Where event files live.

``<root>/events/app_id=<app>/dt=<YYYY-MM-DD>/hour=<HH>/<file>.parquet``
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from warehouse.errors import LayoutError

EVENTS_DIR = "events"
#: Touched (mtime, ns) by every local commit and delete, so readers can skip re-listing.
CHANGES_MARKER = ".changes"
_APP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_DT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PART = re.compile(r"^app_id=(?P<app_id>[^/]+)/dt=(?P<dt>[^/]+)/hour=(?P<hour>\d{2})$")


def is_data_file(name: str) -> bool:
    """A committed Parquet file of the warehouse (staged and hidden files start with . or _)."""
    return name.endswith(".parquet") and not name.startswith((".", "_"))


def validate_app_id(app_id: str) -> str:
    """App ids become directory names and SQL literals: keep them to a safe alphabet."""
    if not _APP_ID.match(app_id):
        raise LayoutError(
            f"app id {app_id!r} is not allowed",
            code="bad_app_id",
            hint="use 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
        )
    return app_id


@dataclass(frozen=True, order=True)
class Partition:
    """One hourly partition of one app."""

    app_id: str
    dt: str
    hour: str

    @classmethod
    def of(cls, app_id: str, event_time: datetime) -> Partition:
        """The partition an event belongs to, by its (UTC) event time."""
        t = event_time.astimezone(UTC) if event_time.tzinfo else event_time
        return cls(app_id, t.strftime("%Y-%m-%d"), t.strftime("%H"))

    @classmethod
    def from_micros(cls, app_id: str, event_time_us: int) -> Partition:
        return cls.of(app_id, datetime.fromtimestamp(event_time_us / 1e6, tz=UTC))

    @classmethod
    def parse(cls, relative: str) -> Partition:
        """Read ``app_id=a/dt=2026-01-02/hour=03`` back into a partition."""
        m = _PART.match(relative.strip("/"))
        if not m or not _DT.match(m["dt"]):
            raise LayoutError(
                f"{relative!r} is not a partition path",
                code="bad_partition_path",
                hint="expected app_id=<app>/dt=<YYYY-MM-DD>/hour=<HH>",
            )
        return cls(m["app_id"], m["dt"], m["hour"])

    @property
    def path(self) -> str:
        """Path relative to the warehouse root."""
        return partition_path(self.app_id, self.dt, self.hour)

    @property
    def start(self) -> datetime:
        """The first instant of this hour (UTC)."""
        return datetime.strptime(f"{self.dt} {self.hour}", "%Y-%m-%d %H").replace(tzinfo=UTC)


def partition_path(app_id: str, dt: str, hour: str | int) -> str:
    """The directory of one partition, relative to the warehouse root."""
    hh = f"{int(hour):02d}"
    if not _DT.match(dt) or not 0 <= int(hh) <= 23:
        raise LayoutError(
            f"bad partition dt={dt!r} hour={hour!r}",
            code="bad_partition",
            hint="dt is YYYY-MM-DD, hour is 0-23",
        )
    return f"{EVENTS_DIR}/app_id={validate_app_id(app_id)}/dt={dt}/hour={hh}"
