"""`RulePlanner`: the deterministic planner's one entry point."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from workspace.analyst.context import DataContext
from workspace.analyst.plan import Plan
from workspace.analyst.rules._build import SURE, build
from workspace.analyst.rules._lexicon import Lexicon
from workspace.analyst.rules._lexicon import build as build_lexicon
from workspace.analyst.rules._read import read
from workspace.analyst.rules._suggest import suggestions
from workspace.analyst.rules._tokens import tokenize


@dataclass(frozen=True)
class RuleAnswer:
    """A plan (None when nothing was recognised), how sure the planner is (0..1; `sure` at
    `SURE` or above), what it understood in words, and rephrasings it would answer."""

    plan: Plan | None
    confidence: float
    understood: str
    suggestions: list[str] = field(default_factory=list)

    @property
    def sure(self) -> bool:
        return self.plan is not None and self.confidence >= SURE


class RulePlanner:
    """Answers everyday questions from the catalog of `context`, without a model.

    Build one per data context (it derives its lexicon from the catalog once); `answer` is
    pure and never raises on any text."""

    name = "rules"

    def __init__(self, context: DataContext):
        self.context = context
        self.lexicon: Lexicon = build_lexicon(context)

    def answer(self, question: str, today: date) -> RuleAnswer:
        tokens, truncated = tokenize(question)
        reading = read(tokens, self.lexicon, today, truncated)
        try:
            built = build(reading, extent=self.context.extent, today=today)
        except ValueError as err:  # a catalog name an insight refuses: no plan, never a raise
            return RuleAnswer(None, 0.0, f"could not build a plan: {str(err)[:200]}",
                              suggestions(None, self.lexicon))
        understood = "; ".join(built.said) if built.said else "nothing I know"
        if reading.unknown:
            understood += "; did not understand: " + ", ".join(
                repr(w[:40]) for w in reading.unknown[:5])
        if truncated:
            understood += "; the question is too long: only its start was read"
        return RuleAnswer(built.plan, built.confidence, understood,
                          suggestions(built.plan, self.lexicon))
