from pathlib import Path

import pytest

from causality.errors import ConfigError
from causality.settings import load_settings, masked


def test_defaults_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in __import__("os").environ if k.startswith("CAUSALITY_")]:
        monkeypatch.delenv(key)
    s = load_settings()
    assert s.nats.port == 4222
    assert s.query.engine == "duckdb"
    assert s.warehouse_uri.endswith("warehouse")


def test_env_overrides_nested_and_top_level(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CAUSALITY_NATS_PORT", "4333")
    monkeypatch.setenv("CAUSALITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CAUSALITY_QUERY_MAX_ROWS", "500")
    s = load_settings()
    assert (s.nats.port, s.data_dir, s.query.max_rows) == (4333, tmp_path, 500)
    assert s.nats_store_dir == tmp_path / "nats"


def test_bad_env_value_names_setting_value_and_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAUSALITY_NATS_PORT", "abc")
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "CAUSALITY_NATS_PORT" in text and "'abc'" in text and "integer" in text
    assert err.value.facts["setting"] == "nats.port"


def test_out_of_range_and_enum_say_what_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAUSALITY_NATS_PORT", "70000")
    with pytest.raises(ConfigError, match="less than or equal to 65535"):
        load_settings()
    monkeypatch.delenv("CAUSALITY_NATS_PORT")
    monkeypatch.setenv("CAUSALITY_QUERY_ENGINE", "postgres")
    with pytest.raises(ConfigError, match="'duckdb' or 'trino'"):
        load_settings()


def test_nats_max_file_store_is_a_size(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().nats.max_file_store == "10G"
    monkeypatch.setenv("CAUSALITY_NATS_MAX_FILE_STORE", "850M")
    assert load_settings().nats.max_file_store == "850M"
    monkeypatch.setenv("CAUSALITY_NATS_MAX_FILE_STORE", "10 gigs")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.facts["setting"] == "nats.max_file_store"


def test_toml_file_is_read_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('log_level = "debug"\n[nats]\nport = 5000\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("CAUSALITY_NATS_PORT", "6000")
    s = load_settings(cfg)
    assert (s.log_level, s.nats.host, s.nats.port) == ("debug", "0.0.0.0", 6000)


def test_toml_unknown_key_and_bad_syntax_and_missing_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[nats]\nprot = 5000\n")
    with pytest.raises(ConfigError, match=r"unknown setting nats\.prot"):
        load_settings(cfg)
    cfg.write_text("[nats\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert err.value.code == "config_unreadable"
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "nope.toml")
    assert err.value.code == "config_file_missing"


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAUSALITY_LLM_ANTHROPIC_API_KEY", "sk-very-secret")
    monkeypatch.setenv("CAUSALITY_METADATA_URL", "postgresql://me:pw@db/meta")
    shown = masked(load_settings())
    assert shown["llm"]["anthropic_api_key"] == "***"
    assert "sk-very-secret" not in repr(shown) and "pw@" not in repr(shown)
