"""What an insight kind is: a typed model, our compiler for it, and a sentence describing one.

Each kind is one module of ``workspace/insights/kinds/`` (``trend.py``, ``funnel.py``, ...)
defining its model (an `InsightModel` with a ``kind`` literal and a docstring the model reads),
its compiler and ``KIND = InsightKind(model=..., compile=..., describe=..., order=...)``.
`workspace.insights._registry` finds the modules; the union of insights, the analyst's plan and
prompt, the Python API and the Insights page all derive from what it finds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Generic, TypeVar

from pydantic import BaseModel
from sqlglot import exp

from workspace.insights._fields import DateRange, _Model, is_event_field


class InsightModel(_Model):
    """The base of every kind's model; it adds no field, so the schema is the kind's own."""

    if TYPE_CHECKING:  # declared by every kind (the form and the analyst rely on both)
        kind: str
        date_range: DateRange

    def event_names(self) -> list[str | None]:
        """Every event type the insight names, in field order (None: any event)."""
        return _event_names(self)


def _event_names(model: BaseModel) -> list[str | None]:
    names: list[str | None] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if is_event_field(field):
            names.append(value)
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                names += _event_names(item)
    return names


M = TypeVar("M", bound=InsightModel)


@dataclass(frozen=True)
class InsightKind(Generic[M]):
    """One kind of insight. `describe` says what an insight shows, in a short sentence without
    its dates (the Insights page adds them): it titles results, pinned tiles and audit rows."""

    model: type[M]
    compile: Callable[[M, date], exp.Expr]
    describe: Callable[[M], str]
    order: int = 100  # where the kind appears in lists (the prompt, the Insights page)

    @property
    def name(self) -> str:
        """The model's ``kind`` tag."""
        return str(self.model.model_fields["kind"].default)

    @property
    def title(self) -> str:
        """The name as a label: ``top_events`` → ``Top events``."""
        return self.name.replace("_", " ").capitalize()

    @property
    def event_fields(self) -> tuple[str, ...]:
        """The model's fields that hold an event type."""
        return tuple(name for name, field in self.model.model_fields.items()
                     if is_event_field(field))
