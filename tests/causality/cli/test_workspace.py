"""`causality users ...` against a temporary metadata store, and `causality workspace` really
serving Streamlit on a free port until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from causality.cli import main
from causality.cli.workspace import APP_SCRIPT
from causality.settings import load_settings
from causality.supervisor import ensure_admin
from causality.workspace_health import HEALTH_PATH, healthy, wait_healthy
from metadata import open_db
from metadata.users import UserStore
from tests.fixtures.ports import free_port

PASSWORD = "a long enough password"
START_TIMEOUT_S = 90.0
OIDC_ENV = {
    "CAUSALITY_WORKSPACE_OIDC_SERVER_METADATA_URL":
        "https://id.example.com/.well-known/openid-configuration",
    "CAUSALITY_WORKSPACE_OIDC_CLIENT_ID": "causality",
    "CAUSALITY_WORKSPACE_OIDC_CLIENT_SECRET": 'client "secret"',
    "CAUSALITY_WORKSPACE_OIDC_COOKIE_SECRET": "a cookie secret of some length",
}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAUSALITY_DATA_DIR", str(tmp_path))
    return tmp_path


def cli(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin)


def store(data_dir: Path) -> UserStore:
    return UserStore(open_db(f"sqlite:///{data_dir / 'meta.db'}"))


def test_users_add_list_role_disable_enable(data_dir: Path) -> None:
    added = cli("users", "add", "ada", "--role", "admin", "--password-stdin",
                stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert added.output == "added ada (admin, all apps)\n"
    scoped = cli("users", "add", "sam", "--role", "viewer", "--app", "shop", "--email",
                 "sam@example.com", "--password-stdin", stdin=PASSWORD)
    assert scoped.output == "added sam (viewer, shop)\n"
    listed = cli("users", "list").output.splitlines()
    assert listed[0].split() == ["username", "role", "app", "email", "status"]
    assert listed[1].split() == ["ada", "admin", "all", "apps", "-", "active"]
    assert listed[2].split() == ["sam", "viewer", "shop", "sam@example.com", "active"]
    assert cli("users", "role", "sam", "analyst").output == "sam is now a analyst\n"
    assert store(data_dir).get("sam").role == "analyst"
    assert cli("users", "disable", "sam").exit_code == 0
    assert store(data_dir).authenticate("sam", PASSWORD) is None
    assert "disabled" in cli("users", "list").output
    assert cli("users", "enable", "sam").exit_code == 0
    assert store(data_dir).authenticate("sam", PASSWORD) is not None


def test_users_add_prompts_twice_with_hidden_input(data_dir: Path) -> None:
    result = cli("users", "add", "ann", "--role", "analyst", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert store(data_dir).authenticate("ann", PASSWORD) is not None
    mismatch = cli("users", "add", "bob", "--role", "viewer",
                   stdin=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n")
    assert "do not match" in mismatch.output
    assert store(data_dir).authenticate("bob", PASSWORD) is not None


def test_users_passwd(data_dir: Path) -> None:
    cli("users", "add", "ada", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    changed = cli("users", "passwd", "ada", stdin="the new password!\nthe new password!\n")
    assert changed.output.endswith("password of ada changed\n")
    assert store(data_dir).authenticate("ada", PASSWORD) is None
    assert store(data_dir).authenticate("ada", "the new password!") is not None


def test_users_errors_have_a_code_and_a_hint(data_dir: Path) -> None:
    cli("users", "add", "ada", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    again = cli("users", "add", "ada", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    assert again.exit_code == 2
    assert "error [user_exists]" in again.output and "hint:" in again.output
    weak = cli("users", "add", "bob", "--role", "viewer", "--password-stdin", stdin="short")
    assert "error [weak_password]" in weak.output
    unknown = cli("users", "passwd", "nobody", "--password-stdin", stdin=PASSWORD)
    assert unknown.exit_code == 2 and "error [unknown_user]" in unknown.output
    bad_app = cli("users", "add", "cid", "--role", "viewer", "--app", "Bad App",
                  "--password-stdin", stdin=PASSWORD)
    assert "error [bad_app_id]" in bad_app.output
    bad_role = cli("users", "role", "ada", "owner")
    assert bad_role.exit_code == 2 and "'owner' is not one of" in bad_role.output
    assert [u.username for u in store(data_dir).list()] == ["ada"]


def test_first_admin_is_made_once(data_dir: Path) -> None:
    settings = load_settings()
    password = ensure_admin(settings)
    assert password is not None and len(password) >= 16
    assert store(data_dir).authenticate("admin", password) is not None
    assert ensure_admin(settings) is None


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def test_workspace_serves_streamlit_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CAUSALITY_DATA_DIR": str(tmp_path), **OIDC_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "causality", "workspace", "--port",
                             str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_healthy(url, proc, START_TIMEOUT_S), "the workspace did not answer"
        with urllib.request.urlopen(url + HEALTH_PATH, timeout=5) as resp:
            assert resp.read() == b"ok"
        (streamlit,) = _children(proc.pid)
        argv = Path(f"/proc/{streamlit}/cmdline").read_text().split("\0")
        assert argv[1:5] == ["-m", "streamlit", "run", str(APP_SCRIPT)]
        assert argv[argv.index("--server.port") + 1] == str(port)
        assert argv[argv.index("--browser.gatherUsageStats") + 1] == "false"
        secrets_file = Path(argv[argv.index("--secrets.files") + 1])
        assert secrets_file.stat().st_mode & 0o777 == 0o600
        auth = tomllib.loads(secrets_file.read_text())["auth"]
        assert auth["redirect_uri"] == f"{url}/oauth2callback"
        assert auth["client_secret"] == 'client "secret"'
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:  # a failed assertion: leave no Streamlit behind
            for child in _children(proc.pid):
                os.kill(child, signal.SIGKILL)
            proc.kill()
            proc.wait()
    out, err = proc.communicate()
    assert f"workspace {url}" in out
    assert "causality users add NAME --role admin" in err
    assert "Traceback" not in err
    assert not secrets_file.exists() and not healthy(url)
