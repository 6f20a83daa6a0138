"""The SDK's public surface is small and pinned, and it imports with the stdlib alone."""

from __future__ import annotations

import glob
import json
import re
import subprocess
import sys

import causality_sdk
import pytest

from .conftest import SDK_ROOT


def test_public_names_are_pinned():
    assert sorted(causality_sdk.__all__) == [
        "CausalityError",
        "Client",
        "ConfigError",
        "Options",
        "Report",
        "Stats",
        "__version__",
    ]


def test_version_matches_package_metadata():
    text = (SDK_ROOT / "pyproject.toml").read_text()
    assert 'name = "causality-sdk"' in text
    assert re.search(r"^dependencies = \[\]$", text, re.M)
    assert 'attr = "causality_sdk._version.__version__"' in text
    assert re.fullmatch(r"\d+\.\d+\.\d+", causality_sdk.__version__)


def test_bad_configuration_raises_config_error_with_the_setting_named(tmp_path):
    from causality_sdk import Client, ConfigError

    cases = [
        ({"write_key": ""}, "write_key"),
        ({"host": "ingest.example.com"}, "host"),
        ({"batch_size": 500}, "batch_size"),
        ({"max_queue_events": 0}, "max_queue_events"),
        ({"flush_interval_s": -1}, "flush_interval_s"),
        ({"priorities": {"screen": "low"}}, "priorities"),
        ({"no_such_option": 1}, "no_such_option"),
    ]
    for bad, name in cases:
        args = {"write_key": "k", "host": "http://127.0.0.1:9", "queue_dir": str(tmp_path), **bad}
        with pytest.raises(ConfigError, match=name):
            Client(args.pop("write_key"), args.pop("host"), **args)


ISOLATED = """
import json, sys
sys.path.insert(0, {root!r})
import causality_sdk
from causality_sdk import Client
c = Client("k", "http://127.0.0.1:9", queue_dir={queue!r}, send=False)
mid = c.track("u1", "Isolated", {{"ok": True}})
stats = c.stats()
c.shutdown(0.1)
allowed = set(getattr(sys, "stdlib_module_names", sys.modules)) | {{"causality_sdk", "__main__"}}
third_party = sorted(name for name in sys.modules if name.split(".")[0] not in allowed)
print(json.dumps({{"mid": mid, "queued": stats.queued, "third_party": third_party}}))
"""


def _run_isolated(python: str, tmp_path) -> dict:
    code = ISOLATED.format(root=str(SDK_ROOT), queue=str(tmp_path / "q"))
    # -I: ignore the environment and user site; -S: no site-packages at all.
    out = subprocess.run(
        [python, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(out.stdout)


def test_imports_and_queues_with_no_site_packages(tmp_path):
    result = _run_isolated(sys.executable, tmp_path)
    assert result["mid"] and result["queued"] == 1
    assert result["third_party"] == []


def _oldest_python() -> str | None:
    found = sorted(
        glob.glob("/root/.pyenv/versions/3.9.*/bin/python3.9") + glob.glob("/usr/bin/python3.9")
    )
    return found[0] if found else None


def test_runs_on_python_3_9(tmp_path):
    oldest = _oldest_python()
    assert oldest is not None, "the SDK supports Python 3.9: install it (pyenv or python3.9)"
    result = _run_isolated(oldest, tmp_path)
    assert result["mid"] and result["queued"] == 1
