"""The sink's settings: env names, defaults that hold together, errors that name the fix."""

import pytest

from causality.cli.sink import sink_config
from causality.errors import ConfigError
from causality.settings import load_settings


def test_env_and_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("CAUSALITY_SINK_FLUSH_INTERVAL_S", "5")
    monkeypatch.setenv("CAUSALITY_SINK_DURABLE", "sink-b")
    s = load_settings(data_dir=tmp_path)
    assert s.sink.flush_interval_s == 5.0 and s.sink.durable == "sink-b"
    assert s.sink.ack_wait_s > s.sink.flush_interval_s
    config = sink_config(s, http_port=0)
    assert config.options.http_port == 0
    assert config.storage.uri == s.warehouse_uri
    assert config.sink_id and not config.sink_id.startswith((".", "_"))


def test_ack_wait_must_exceed_the_flush_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAUSALITY_SINK_FLUSH_INTERVAL_S", "90")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "ack_wait_s" in caught.value.message and "CAUSALITY_SINK" in caught.value.message


def test_fetch_batch_within_max_ack_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAUSALITY_SINK_MAX_ACK_PENDING", "10")
    with pytest.raises(ConfigError, match="fetch_batch"):
        load_settings()
