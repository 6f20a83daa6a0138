"""A question set: demo-data parameters, the date the questions treat as today, and each
question with its gold Trino SQL (and the app scope it is asked under, if any)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workspace.errors import WorkspaceError

DEMO_QUESTIONS = Path(__file__).with_name("demo_questions.json")


class EvalError(WorkspaceError):
    code = "eval_error"


class DemoSpec(BaseModel):
    """How to regenerate the data the gold answers were written for (`warehouse.demo`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events: int = Field(gt=0)
    seed: int
    end: date


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    question: str = Field(min_length=1)
    gold_sql: str = Field(min_length=1)
    difficulty: Literal["easy", "medium", "hard"]
    app: str | None = Field(None, description="tenant scope the question is asked under")
    tags: list[str] = Field(default_factory=list)


class QuestionSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    today: date
    demo: DemoSpec
    questions: list[Question] = Field(min_length=1)


def load_questions(path: Path = DEMO_QUESTIONS) -> QuestionSet:
    try:
        data = json.loads(Path(path).read_text())
        questions = QuestionSet.model_validate(data)
    except OSError as err:
        raise EvalError(f"cannot read {path}: {err.strerror}",
                        hint="pass an existing JSON file to --questions") from None
    except ValueError as err:  # JSONDecodeError and ValidationError
        first = str(err).splitlines()[:3] if isinstance(err, ValidationError) else [str(err)]
        raise EvalError(f"{path} is not a valid question set: {' '.join(first)}",
                        hint="see workspace/evals/demo_questions.json for the format") from None
    ids = [q.id for q in questions.questions]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise EvalError(f"{path} repeats question ids {', '.join(duplicated)}",
                        hint="give every question its own id")
    return questions
