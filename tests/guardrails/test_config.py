"""The ``[guardrails]`` settings section carries every knob of the policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from causality.settings import load_settings
from guardrails import Policy
from guardrails.config import GuardrailsSettings
from tests.guardrails._cases import CATALOG

# Set per query or per run, not by configuration.
PER_QUERY = {"tenant_app_id", "max_rows", "timeout_s"}
ENGINE_GIVEN = {"dialect"}  # the engine running the query says which
# Lifts built-in deny lists (file, network, session functions): for code, never configured.
CODE_ONLY = {"function_allowlist"}


def test_every_policy_knob_is_a_setting() -> None:
    knobs = set(Policy.model_fields) - PER_QUERY - ENGINE_GIVEN - CODE_ONLY
    assert knobs == set(GuardrailsSettings.model_fields)
    for name in knobs:
        assert GuardrailsSettings.model_fields[name].default == Policy.model_fields[name].default


def test_settings_become_the_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CAUSALITY_GUARDRAILS_MODE", "warn")
    monkeypatch.setenv("CAUSALITY_GUARDRAILS_QUERIES_PER_MINUTE", "7")
    config = tmp_path / "causality.toml"
    config.write_text('[guardrails]\nfunction_denylist = ["Regexp_Like"]\nmax_scan_rows = 99\n'
                      "[query]\nmax_rows = 5\ntimeout_s = 3\n")
    policy = load_settings(config).policy("shop")
    assert (policy.mode, policy.queries_per_minute, policy.max_scan_rows) == ("warn", 7, 99)
    assert policy.function_denylist == frozenset({"regexp_like"})
    assert (policy.max_rows, policy.timeout_s, policy.tenant_app_id) == (5, 3.0, "shop")


def test_a_wrong_guardrails_setting_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from causality.errors import ConfigError

    monkeypatch.setenv("CAUSALITY_GUARDRAILS_UNKNOWN_ESTIMATE", "maybe")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.facts["setting"] == "guardrails.unknown_estimate"


@pytest.mark.parametrize(("env", "value", "setting"), [
    ("CAUSALITY_GUARDRAILS_TENANT_TABLES", "[]", "guardrails.tenant_tables"),
    ("CAUSALITY_GUARDRAILS_TENANT_TABLES", '["orders"]', "guardrails.tenant_tables"),
    ("CAUSALITY_GUARDRAILS_FUNCTION_ALLOWLIST", '["read_text"]', "guardrails.function_allowlist"),
])
def test_settings_cannot_open_the_boundary(monkeypatch: pytest.MonkeyPatch, env: str,
                                           value: str, setting: str) -> None:
    """No setting turns the tenant filter off for events or lifts a built-in deny list."""
    from causality.errors import ConfigError

    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.facts["setting"] == setting


def test_a_policy_for_no_engine_in_particular_refuses_every_engines_functions() -> None:
    from guardrails import Rejected, check

    for sql in ("SELECT getvariable('x') FROM events", "SELECT * FROM TABLE(exclude_columns("
                "input => TABLE(events), columns => DESCRIPTOR(user_id)))"):
        with pytest.raises(Rejected) as caught:
            check(sql, CATALOG, Policy())
        assert caught.value.code in ("forbidden_function", "parse_error"), sql
