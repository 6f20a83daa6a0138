"""The public surface of `guardrails` is small and pinned."""

from __future__ import annotations

import guardrails
from causality.errors import CausalityError
from tests.guardrails._cases import FIXTURES, RULE_FILES


def test_rules_run_in_the_documented_order() -> None:
    assert [rule.__name__ for rule in guardrails.RULES] == [
        "parse",
        "single_statement",
        "read_only",
        "known_tables",
        "known_columns",
        "functions",
        "bounded",
        "tenant_filter",
        "limit",
    ]


def test_each_rule_lives_in_a_module_named_like_it_and_has_a_fixture_file() -> None:
    for rule in guardrails.RULES:
        assert rule.__module__ == f"guardrails._rules.{rule.__name__}"
        assert rule.__doc__
    assert [f"{rule.__name__}.sql" for rule in guardrails.RULES] == list(RULE_FILES)
    for name in RULE_FILES:
        assert (FIXTURES / name).is_file()


def test_rejected_is_the_package_root_error() -> None:
    assert issubclass(guardrails.Rejected, guardrails.GuardrailError)
    assert issubclass(guardrails.GuardrailError, CausalityError)
