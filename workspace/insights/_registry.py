"""The insight kinds, in the order people and the model see them: one module each.

A new kind is a module of this package with its model, compiler and ``KIND`` (see
`workspace.insights._kind`), and its name in `MODULES`. Everything else derives from
`KINDS`: the `Insight` union, the analyst's `Plan` and prompt, and the Insights page (a kind
without a form of its own gets one built from its model's fields).
"""

from __future__ import annotations

from functools import reduce
from importlib import import_module
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from workspace.insights._kind import InsightKind, InsightModel

MODULES = ("trend", "funnel", "retention", "top_events", "stickiness")

KINDS: dict[str, InsightKind[Any]] = {
    kind.name: kind for kind in (import_module(f"{__package__}.{m}").KIND for m in MODULES)}
INSIGHT_KINDS = tuple(KINDS)
_BY_MODEL = {kind.model: kind for kind in KINDS.values()}

if TYPE_CHECKING:
    Insight = InsightModel
else:
    Insight = Annotated[reduce(or_, (kind.model for kind in KINDS.values())),
                        Field(discriminator="kind")]


def kind_of(insight: object) -> InsightKind[Any] | None:
    """The kind `insight` is a model of (None for anything else)."""
    return _BY_MODEL.get(type(insight))
