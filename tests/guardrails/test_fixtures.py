"""Golden files: one fixture file per rule, adversarial and benign cases side by side."""

from __future__ import annotations

import pytest

from guardrails import CheckedQuery, Rejected, check
from tests.guardrails._cases import CATALOG, RULE_FILES, Case, load, normalise

CASES = [case for name in RULE_FILES for case in load(name)]


def test_the_adversarial_corpus_is_large() -> None:
    rejected = [case for case in CASES if case.expect != "pass"]
    neutralised = [
        case for case in load("tenant_filter.sql") if "tenant_filter" in (case.changes or ())
    ]
    assert len(rejected) + len(neutralised) >= 120
    assert len({case.id for case in CASES}) == len(CASES), "case titles must be unique per file"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_fixture(case: Case) -> None:
    if case.expect != "pass":
        with pytest.raises(Rejected) as info:
            check(case.sql, CATALOG, case.policy())
        assert info.value.code == case.expect, str(info.value)
        assert info.value.message
        assert info.value.hint
        return
    result = check(case.sql, CATALOG, case.policy())
    assert isinstance(result, CheckedQuery)
    if case.changes is not None:
        assert set(result.changes) == case.changes
    if case.expected_sql is not None:
        assert result.sql == normalise(case.expected_sql)
