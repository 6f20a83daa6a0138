"""A deterministic planner for everyday questions, without a model.

``RulePlanner(context).answer(question, today)`` reads the question against the catalog
of `context` (event names with their plurals, verb forms and synonyms; property keys and
known values; app ids) and returns a `RuleAnswer`: the same typed `Plan` the model would
give (a trend, funnel, retention, stickiness or top-events insight, or one total as SQL),
a confidence in 0..1, what it understood in words, and rephrasings it would answer.

An answer is `sure` when its confidence is at least `SURE`: every word was understood and
nothing was ambiguous; the eval holds it to 0 wrong sure answers. Below that, the plan is a
guess the chat may offer or hand to the model. No regular expression reads the question:
a tokenizer and dictionary lookups, linear in its (capped) length.
"""

from workspace.analyst.rules._build import SURE
from workspace.analyst.rules._planner import RuleAnswer, RulePlanner

__all__ = ["SURE", "RuleAnswer", "RulePlanner"]
