"""The insight kinds, in the order people and the model see them: every module of
``workspace/insights/kinds/``, each with its model, compiler and ``KIND`` (see
`workspace.insights._kind`); adding a kind is adding its module (and its test).

Everything else derives from `KINDS`: the `Insight` union, the analyst's `Plan` and prompt, and
the Insights page (a kind without a form of its own gets one built from its model's fields).
"""

from __future__ import annotations

import pkgutil
from functools import reduce
from importlib import import_module
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from workspace.insights import kinds
from workspace.insights._kind import InsightKind, InsightModel

MODULES = tuple(sorted(
    (info.name for info in pkgutil.iter_modules(kinds.__path__) if not info.name.startswith("_")),
    key=lambda name: (import_module(f"{kinds.__name__}.{name}").KIND.order, name)))

KINDS: dict[str, InsightKind[Any]] = {
    kind.name: kind for kind in (import_module(f"{kinds.__name__}.{m}").KIND for m in MODULES)}
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
