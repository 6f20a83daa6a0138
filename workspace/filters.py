"""Dashboard filters (date range, app), as they round-trip through the URL query string.

The date range is applied to a tile's SQL by `workspace.queries.dates.restrict_dates`; the app
filter becomes the guardrails' tenant scope, so it is enforced the same way as a user's or an
embed link's scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from warehouse.errors import LayoutError
from warehouse.layout import validate_app_id
from workspace.errors import FilterError


@dataclass(frozen=True)
class Filters:
    start: date | None = None
    end: date | None = None
    app_id: str | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise FilterError(f"the range starts ({self.start}) after it ends ({self.end})",
                              hint="swap the dates")
        if self.app_id is not None:
            try:
                validate_app_id(self.app_id)
            except LayoutError as err:  # a bad ?app= in the URL is a filter error too
                raise FilterError(err.message, code=err.code, hint=err.hint) from None

    def to_params(self) -> dict[str, str]:
        """For ``st.query_params``: only what is set."""
        out = {"from": self.start.isoformat() if self.start else None,
               "to": self.end.isoformat() if self.end else None, "app": self.app_id}
        return {k: v for k, v in out.items() if v}

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Filters:
        """Parse the URL's ``from``/``to``/``app``; raises `FilterError` on a bad value."""
        return cls(start=_day(params.get("from"), "from"), end=_day(params.get("to"), "to"),
                   app_id=params.get("app") or None)


def _day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FilterError(f"{name}={text[:40]!r} is not a date", hint="use YYYY-MM-DD") from None
