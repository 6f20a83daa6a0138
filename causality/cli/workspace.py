"""``causality workspace`` (the Streamlit app) and ``causality users`` (who may sign in)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import webbrowser
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from causality._net import local_url, pick_port
from causality.cli._app import settings_of
from causality.workspace_health import wait_healthy

if TYPE_CHECKING:
    from pydantic import SecretStr

    from causality.settings import Settings, WorkspaceSettings
    from metadata.users import UserStore

APP_SCRIPT = Path(__file__).resolve().parents[1] / "workspace_app.py"  # Streamlit runs it
OPEN_TIMEOUT_S = 60.0
ROLE_CHOICE = click.Choice(["viewer", "analyst", "admin"])


def streamlit_command(host: str, port: int, secrets_file: Path | None = None) -> list[str]:
    """How the workspace runs: Streamlit over our app script, headless, no telemetry."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
           "--server.address", host, "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--global.developmentMode", "false"]
    if secrets_file is not None:
        cmd += ["--secrets.files", str(secrets_file)]
    return cmd


def write_oidc_secrets(ws: WorkspaceSettings, folder: Path) -> Path:
    """Streamlit's ``[auth]`` section for `st.login`, in a file only this user can read."""
    values = {"redirect_uri": f"{ws.base_url}/oauth2callback",
              "cookie_secret": _secret(ws.oidc_cookie_secret),
              "client_id": ws.oidc_client_id or "",
              "client_secret": _secret(ws.oidc_client_secret),
              "server_metadata_url": ws.oidc_server_metadata_url or ""}
    lines = ["[auth]", *(f"{key} = {_toml_string(value)}" for key, value in values.items())]
    path = folder / "secrets.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    return path


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


@click.command("workspace")
@click.option("--host", default=None, help="Address to listen on (default: workspace.host).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port (default: workspace.port; 0 picks a free one).")
@click.option("--open/--no-open", "open_browser", default=False, show_default=True,
              help="Open the workspace in a browser once it answers.")
@click.pass_context
def workspace_command(ctx: click.Context, host: str | None, port: int | None,
                      open_browser: bool) -> None:
    """Run the analyst workspace (Streamlit) until Ctrl-C or SIGTERM.

    People sign in with accounts from `causality users add`, or through OpenID Connect when
    the workspace.oidc_* settings are all set.
    """
    s = settings_of(ctx)
    host = host or s.workspace.host
    port = pick_port(host, s.workspace.port if port is None else port)
    url = local_url(host, port)
    if _user_store(s).count() == 0:
        click.echo("No one can sign in yet: add an admin with "
                   "`causality users add NAME --role admin`.", err=True)
    env = {**os.environ, "CAUSALITY_WORKSPACE_HOST": host, "CAUSALITY_WORKSPACE_PORT": str(port)}
    config = ctx.find_root().params.get("config")
    if config is not None:
        env["CAUSALITY_CONFIG"] = str(Path(config).resolve())
    private = Path(tempfile.mkdtemp(prefix="causality-workspace-"))  # mode 0700
    try:
        secrets_file = None
        if s.workspace.oidc_enabled:
            # The child's settings see the same host/port, so build the redirect from them.
            secrets_file = write_oidc_secrets(
                s.workspace.model_copy(update={"host": host, "port": port}), private)
        proc = subprocess.Popen(streamlit_command(host, port, secrets_file), env=env)
        _forward_signals(proc)
        click.echo(f"workspace {url}  (Ctrl-C stops)")
        if open_browser:
            threading.Thread(target=_open_when_ready, args=(url, proc), daemon=True).start()
        code = proc.wait()
    finally:
        shutil.rmtree(private, ignore_errors=True)
    ctx.exit(code)


def _forward_signals(proc: subprocess.Popen[bytes]) -> None:
    def forward(signum: int, _frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)


def _open_when_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    if wait_healthy(url, proc, OPEN_TIMEOUT_S):
        webbrowser.open(url)


def _user_store(settings: Settings) -> UserStore:
    from causality.wiring import metadata
    from metadata.users import UserStore

    return UserStore(metadata(settings))


@click.group("users")
def users_group() -> None:
    """Who may sign in to the workspace, with which role and app scope."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.read().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, required=True,
              help="viewer: dashboards; analyst: also chat, SQL, share; admin: everything.")
@click.option("--app", "app_id", default=None, help="See only this app's events.")
@click.option("--email", default=None, help="Sign in through OpenID Connect with this email.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def users_add(ctx: click.Context, name: str, role: str, app_id: str | None,
              email: str | None, password_stdin: bool) -> None:
    """Add a person who signs in as NAME."""
    store = _user_store(settings_of(ctx))
    user = store.add(name, _password(password_stdin), role,  # type: ignore[arg-type]
                     app_id=app_id, email=email)
    click.echo(f"added {user.username} ({user.role}, {user.app_id or 'all apps'})")


@users_group.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """Everyone who may sign in, with role, app scope and status."""
    people = _user_store(settings_of(ctx)).list()
    if not people:
        click.echo("no users yet; add one with `causality users add NAME --role admin`")
        return
    rows = [(u.username, u.role, u.app_id or "all apps", u.email or "-",
             "disabled" if u.disabled_at else "active") for u in people]
    header = ("username", "role", "app", "email", "status")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@users_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def users_passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME."""
    store = _user_store(settings_of(ctx))
    store.get(name)  # a clear error before asking for a password
    store.update(name, password=_password(password_stdin))
    click.echo(f"password of {name} changed")


@users_group.command("role")
@click.argument("name")
@click.argument("role", type=ROLE_CHOICE)
@click.pass_context
def users_role(ctx: click.Context, name: str, role: str) -> None:
    """Change NAME's role."""
    user = _user_store(settings_of(ctx)).update(name, role=role)  # type: ignore[arg-type]
    click.echo(f"{user.username} is now a {user.role}")


@users_group.command("disable")
@click.argument("name")
@click.pass_context
def users_disable(ctx: click.Context, name: str) -> None:
    """Stop NAME from signing in (their open sessions end on their next click)."""
    _user_store(settings_of(ctx)).update(name, disabled=True)
    click.echo(f"{name} can no longer sign in")


@users_group.command("enable")
@click.argument("name")
@click.pass_context
def users_enable(ctx: click.Context, name: str) -> None:
    """Let a disabled NAME sign in again."""
    _user_store(settings_of(ctx)).update(name, disabled=False)
    click.echo(f"{name} can sign in again")


COMMANDS = (workspace_command, users_group)
