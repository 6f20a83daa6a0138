"""What the Alerts page needs of the reactor and the monitors, as a port (`ReactionsPort`).

The workspace sits beside the pipeline and never imports it; the composition root supplies an
implementation (``causality.reactions_port``) that checks rules and monitor specs with the
pipeline's own parsers and explains rules against events. Everything crossing the port is plain
data: JSON text in, normalised JSON text or these frozen dataclasses out, and
`ReactionsError` (code, message, the ``field`` to fix, a hint) for anything that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from metadata.reactions import Destinations
from workspace.errors import WorkspaceError


class ReactionsError(WorkspaceError):
    """A rule or monitor that cannot be accepted; ``facts['field']`` names where, when known."""

    code = "bad_rule"

    @property
    def field(self) -> str | None:
        found = self.facts.get("field")
        return found if isinstance(found, str) else None


@dataclass(frozen=True)
class ScopeResult:
    """App, category or event type: the rule's name or glob (None: any) against the event's."""

    field: str
    expected: str | None
    actual: str | None
    matched: bool


@dataclass(frozen=True)
class LeafResult:
    """One leaf condition evaluated on one event (values as short JSON text)."""

    at: str
    field: str
    operator: str
    expected: str
    actual: str
    result: bool


@dataclass(frozen=True)
class EventVerdict:
    """Whether a rule would have matched one event, and why not."""

    event_id: str
    event_type: str
    event_time: str
    matches: bool
    reasons: tuple[str, ...]
    scope: tuple[ScopeResult, ...]
    leaves: tuple[LeafResult, ...]


class ReactionsPort(Protocol):
    """The reactor's rule logic and the destinations, as the composition root supplies them."""

    def check_rule(self, rule_json: str) -> str:
        """The rule as normalised JSON, or `ReactionsError` naming the field."""
        ...

    def explain(self, rule_json: str, rows: list[dict[str, Any]]) -> list[EventVerdict]:
        """For each row of ``events`` (in order), whether the rule would have matched."""
        ...

    def check_monitor(self, spec_json: str) -> str:
        """The monitor spec as normalised JSON, or `ReactionsError` naming the field."""
        ...

    @property
    def destinations(self) -> Destinations:
        """The webhook destinations, their secrets encrypted with the reactor's key."""
        ...
