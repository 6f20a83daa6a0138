"""The AI analyst: a question becomes a typed plan (an insight, or free SQL when none fits),
its SQL runs through the guardrails, failures go back to the model with their hints, and the
answer carries the SQL that ran, the table, a chart spec and the model's assumptions.

`ask(question, session, engine, policy, planner=...)` is the entry point;
`planner_from_settings(settings.llm)` builds the planner (or raises `AnalystUnavailable`
with code ``no_llm_provider`` when none is configured).
"""

from metadata import ChatSummary
from workspace.analyst.ask import Answer, Attempt, ask
from workspace.analyst.context import DataContext, describe
from workspace.analyst.errors import AnalystError, AnalystUnavailable, AnswerFailed, LLMError
from workspace.analyst.plan import Plan, SqlQuery
from workspace.analyst.planner import InstructorPlanner, Planner, planner_from_settings
from workspace.analyst.session import ChatStore, Session, Turn

__all__ = [
    "AnalystError",
    "AnalystUnavailable",
    "Answer",
    "AnswerFailed",
    "Attempt",
    "ChatStore",
    "ChatSummary",
    "DataContext",
    "InstructorPlanner",
    "LLMError",
    "Plan",
    "Planner",
    "Session",
    "SqlQuery",
    "Turn",
    "ask",
    "describe",
    "planner_from_settings",
]
