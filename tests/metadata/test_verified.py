"""Verified queries: added by a person, retrieved by TF-IDF similarity, scoped by app."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from metadata import MetadataError, UnknownVerifiedQuery, VerifiedQueries
from metadata.verified import rank, tokens


def test_add_get_list_remove(db: SqlEngine) -> None:
    store = VerifiedQueries(db)
    row = store.add("  Daily signups  ", "SELECT 1", verified_by="maria",
                    insight={"kind": "trend", "event": "signup"}, note="UTC days")
    assert (row.question, row.verified_by, row.insight, row.note) == (
        "Daily signups", "maria", {"kind": "trend", "event": "signup"}, "UTC days")
    assert row.verified_at.tzinfo is not None
    assert store.get(row.verified_id) == row
    store.add("Revenue of shop", "SELECT 2", verified_by="li", app_id="shop")
    assert [r.question for r in store.list()] == ["Daily signups", "Revenue of shop"]
    assert [r.question for r in store.list("news")] == ["Daily signups"]
    store.remove(row.verified_id)
    with pytest.raises(UnknownVerifiedQuery):
        store.remove(row.verified_id)
    with pytest.raises(UnknownVerifiedQuery):
        store.get(row.verified_id)


@pytest.mark.parametrize(("question", "sql", "by"), [
    ("", "SELECT 1", "maria"), ("q", "SELECT 1", " "), ("q", "  ", "maria")])
def test_a_verified_query_needs_question_sql_and_a_person(
        db: SqlEngine, question: str, sql: str, by: str) -> None:
    with pytest.raises(MetadataError):
        VerifiedQueries(db).add(question, sql, verified_by=by)


def test_similar_ranks_by_tfidf_cosine_within_scope(db: SqlEngine) -> None:
    store = VerifiedQueries(db)
    store.add("How many signups per day?", "SELECT 1", verified_by="a")
    store.add("Weekly retention of new users", "SELECT 2", verified_by="a")
    store.add("Revenue by country for the shop", "SELECT 3", verified_by="a", app_id="shop")
    store.add("Revenue by country", "SELECT 4", verified_by="a", app_id="news")
    best = store.similar("revenue per country last month", app_id="shop", k=3)
    assert [r.sql for r, _ in best] == ["SELECT 3"]
    assert 0 < best[0][1] <= 1
    daily = store.similar("daily signups? how many per day", k=1)
    assert [r.sql for r, _ in daily] == ["SELECT 1"]
    assert store.similar("completely unrelated words", k=3) == []


def test_tokens_and_rank() -> None:
    assert tokens("How many Users signed up per week?") == ["user", "signed", "up", "week"]
    scores = rank("users per week", ["weekly users", "users per week", "revenue"])
    assert scores[1] == pytest.approx(1.0)
    assert scores[1] > scores[0] > scores[2] == 0.0
