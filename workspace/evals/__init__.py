"""The analyst's evaluation: question sets with gold SQL, result-set scoring, a harness.

`causality eval --questions FILE` runs a set through the configured model; the shipped set
(`DEMO_QUESTIONS`) is written for the seeded demo data it describes.
"""

from workspace.evals.harness import QuestionResult, Report, run_eval, summarize
from workspace.evals.questions import (
    DEMO_QUESTIONS,
    DemoSpec,
    EvalError,
    Question,
    QuestionSet,
    load_questions,
)
from workspace.evals.scoring import Match, compare

__all__ = [
    "DEMO_QUESTIONS",
    "DemoSpec",
    "EvalError",
    "Match",
    "Question",
    "QuestionResult",
    "QuestionSet",
    "Report",
    "compare",
    "load_questions",
    "run_eval",
    "summarize",
]
