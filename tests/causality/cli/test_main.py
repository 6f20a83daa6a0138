import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from causality.cli import main
from tests.fixtures.ports import free_port


def test_help_lists_only_registered_working_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    commands = set(main.commands)
    for name in commands:
        assert name in result.output
        sub = CliRunner().invoke(main, [name, "--help"])
        assert sub.exit_code == 0, sub.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["version"])
    assert result.output.startswith("causality 0.")


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAUSALITY_LLM_ANTHROPIC_API_KEY", "sk-hidden")
    result = CliRunner().invoke(main, ["config", "show", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["llm"]["anthropic_api_key"] == "***"
    assert "sk-hidden" not in result.output


def test_bad_setting_stops_with_message_and_no_traceback() -> None:
    env = {"CAUSALITY_NATS_PORT": "abc", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "causality", "config", "show"],
                          env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "CAUSALITY_NATS_PORT" in proc.stderr and "'abc'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_demo_data_command_writes_layout(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo-data", "--events", "3000", "--out", str(tmp_path),
                                       "--end", "2026-11-01"])
    assert result.exit_code == 0, result.output
    assert "wrote 3,000 events" in result.output
    files = list((tmp_path / "events").glob("app_id=*/dt=*/hour=*/*.parquet"))
    assert files


def test_nats_command_runs_server_until_sigterm(tmp_path: Path) -> None:
    """The monitoring port is the one asked for (probes and the exporter need it fixed)."""
    monitor = free_port()
    env = {"CAUSALITY_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin",
           "CAUSALITY_NATS_MONITOR_PORT": str(monitor), "CAUSALITY_NATS_MAX_FILE_STORE": "750M"}
    proc = subprocess.Popen([sys.executable, "-m", "causality", "nats", "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "nats-server ready at nats://" in line
        assert f"monitoring http://127.0.0.1:{monitor})" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/healthz", timeout=5) as resp:
            assert resp.status == 200
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0
    finally:
        proc.kill()
    assert (tmp_path / "nats" / "jetstream").is_dir()
    assert 'max_file_store: "750M"' in (tmp_path / "nats" / "nats-server.conf").read_text()
    # nats-server logs on the command's own output (kubectl logs), not in a file of its own
    assert "Server is ready" in err
    assert "Max Storage:     750.00 MB" in err
    assert not (tmp_path / "nats" / "nats-server.log").exists()
