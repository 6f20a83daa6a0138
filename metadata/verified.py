"""Verified queries: question → SQL (and the insight behind it) that a person vouched for.

Rows are added only by an explicit human action (`causality verified add`, later the UI);
nothing here is called after a successful answer. The planner retrieves the most similar ones
as examples with a dependency-free TF-IDF cosine over the questions' word tokens (lower-cased,
stop words dropped, a trailing plural "s" stripped): good enough for tens to thousands of
examples, and exact and explainable.
"""

from __future__ import annotations

import builtins
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from metadata._db import verified_queries
from metadata.errors import MetadataError

DEFAULT_EXAMPLES = 3
MIN_SIMILARITY = 0.1
MAX_QUESTION_CHARS = 2000
_TOKEN = re.compile(r"[a-z0-9_]+")
_STOP = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from", "how",
    "i", "in", "is", "it", "me", "many", "much", "of", "on", "or", "per", "show", "the",
    "their", "there", "to", "was", "were", "what", "when", "which", "who", "with", "give",
    "list", "tell",
))


class UnknownVerifiedQuery(MetadataError):
    code = "unknown_verified_query"


@dataclass(frozen=True)
class VerifiedQuery:
    verified_id: int
    question: str
    sql: str
    insight: dict[str, Any] | None
    app_id: str | None
    note: str
    verified_by: str
    verified_at: datetime


def tokens(text: str) -> list[str]:
    out = []
    for token in _TOKEN.findall(text.lower()):
        if token in _STOP:
            continue
        if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
            token = token[:-1]
        out.append(token)
    return out


def rank(question: str, candidates: Sequence[str]) -> list[float]:
    """TF-IDF cosine of `question` with each candidate (IDF over the candidates + question)."""
    docs = [Counter(tokens(text)) for text in candidates]
    query = Counter(tokens(question))
    n = len(docs) + 1
    df: Counter[str] = Counter()
    for doc in [*docs, query]:
        df.update(doc.keys())
    idf = {term: math.log((1 + n) / (1 + count)) + 1.0 for term, count in df.items()}

    def vector(doc: Counter[str]) -> dict[str, float]:
        return {term: tf * idf[term] for term, tf in doc.items()}

    q = vector(query)
    q_norm = math.sqrt(sum(v * v for v in q.values()))
    scores = []
    for doc in docs:
        d = vector(doc)
        d_norm = math.sqrt(sum(v * v for v in d.values()))
        dot = sum(weight * d.get(term, 0.0) for term, weight in q.items())
        scores.append(dot / (q_norm * d_norm) if q_norm and d_norm else 0.0)
    return scores


class VerifiedQueries:
    """Add, list, remove and retrieve verified queries."""

    def __init__(self, db: Engine):
        self.db = db

    def add(self, question: str, sql: str, *, verified_by: str,
            insight: dict[str, Any] | None = None, app_id: str | None = None,
            note: str = "") -> VerifiedQuery:
        """Store one example. `verified_by` names the person who checked it."""
        question = question.strip()
        if not question or len(question) > MAX_QUESTION_CHARS:
            raise MetadataError(f"a question has 1-{MAX_QUESTION_CHARS} characters",
                                code="bad_verified_query", hint="write the question as asked")
        if not verified_by.strip():
            raise MetadataError("a verified query needs the person who verified it",
                                code="bad_verified_query", hint="pass --by NAME")
        if not sql.strip():
            raise MetadataError("a verified query needs its SQL", code="bad_verified_query",
                                hint="pass the SQL that answers the question")
        row = {"question": question, "sql": sql.strip(), "app_id": app_id, "note": note,
               "insight": json.dumps(insight, sort_keys=True) if insight is not None else None,
               "verified_by": verified_by.strip(), "verified_at": datetime.now(UTC)}
        with self.db.begin() as conn:
            key = conn.execute(verified_queries.insert().values(**row)).inserted_primary_key
        assert key is not None
        return self.get(int(key[0]))

    def get(self, verified_id: int) -> VerifiedQuery:
        query = sa.select(verified_queries).where(verified_queries.c.verified_id == verified_id)
        with self.db.connect() as conn:
            found = conn.execute(query).mappings().first()
        if found is None:
            raise UnknownVerifiedQuery(f"no verified query with id {verified_id}",
                                       hint="`causality verified list` shows ids")
        return _row(found)

    def list(self, app_id: str | None = None) -> list[VerifiedQuery]:
        """All rows visible to `app_id` (its own and the global ones); all rows for None."""
        query = sa.select(verified_queries).order_by(verified_queries.c.verified_id)
        if app_id is not None:
            query = query.where(sa.or_(verified_queries.c.app_id.is_(None),
                                       verified_queries.c.app_id == app_id))
        with self.db.connect() as conn:
            return [_row(r) for r in conn.execute(query).mappings()]

    def remove(self, verified_id: int) -> None:
        with self.db.begin() as conn:
            deleted = conn.execute(verified_queries.delete().where(
                verified_queries.c.verified_id == verified_id)).rowcount
        if not deleted:
            raise UnknownVerifiedQuery(f"no verified query with id {verified_id}",
                                       hint="`causality verified list` shows ids")

    def similar(self, question: str, *, app_id: str | None = None, k: int = DEFAULT_EXAMPLES,
                min_score: float = MIN_SIMILARITY) -> builtins.list[tuple[VerifiedQuery, float]]:
        """The `k` most similar rows visible to `app_id`, best first, scores in [0, 1]."""
        rows = self.list(app_id)
        scored = zip(rows, rank(question, [r.question for r in rows]), strict=True)
        best = sorted((pair for pair in scored if pair[1] >= min_score),
                      key=lambda pair: (-pair[1], pair[0].verified_id))
        return best[:k]


def _row(r: sa.RowMapping) -> VerifiedQuery:
    return VerifiedQuery(verified_id=r["verified_id"], question=r["question"], sql=r["sql"],
                         insight=json.loads(r["insight"]) if r["insight"] else None,
                         app_id=r["app_id"], note=r["note"] or "",
                         verified_by=r["verified_by"], verified_at=r["verified_at"])
