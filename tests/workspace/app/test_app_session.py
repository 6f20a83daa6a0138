"""Sessions end after `workspace.session_idle_timeout_s` without a click; failed sign-ins are
counted per username and per client address, in the metadata store (so every process, and a
restart, keeps counting)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy.engine import Engine as SqlEngine
from streamlit.testing.v1 import AppTest

from causality.errors import ConfigError
from causality.settings import load_settings
from metadata.users import User
from tests.workspace.app.conftest import MAIN, PASSWORD, TIMEOUT_S
from tests.workspace.app.test_app_shell import sso_app  # noqa: F401 - a fixture
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.app import _auth
from workspace.app._auth import FAILED_SIGNINS, WRONG_CREDENTIALS, client_address
from workspace.app._context import ACTIVE_KEY, USER_KEY, WORKSPACE_KEY
from workspace.service import Workspace

App = Callable[..., AppTest]
IDLE_S = 600.0
PER_ADDRESS = 3


@pytest.fixture
def strict(engine: DuckDBEngine, db: SqlEngine, tmp_path: Path) -> Workspace:
    """A workspace with a short idle timeout and a low failure count per address."""
    settings = load_settings(data_dir=tmp_path, workspace={
        "session_idle_timeout_s": IDLE_S, "signin_failures_per_address": PER_ADDRESS})
    ws = Workspace(settings, engine=engine, db=db)
    for name in ("ann", "bob", "cy", "dee"):
        ws.users.add(name, PASSWORD, "analyst")
    return ws


@pytest.fixture
def strict_app(strict: Workspace) -> Callable[[User | None], AppTest]:
    def make(user: User | None) -> AppTest:
        at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT_S)
        at.session_state[WORKSPACE_KEY] = strict
        if user is not None:
            at.session_state[USER_KEY] = user
        return at

    return make


@pytest.fixture
def address(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The client address the sign-in page sees: set ``address[0]``."""
    seen = ["198.51.100.7"]
    monkeypatch.setattr(_auth, "request_address", lambda trusted_hops: seen[0])
    return seen


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="signin_username").input(username)
    at.text_input(key="signin_password").input(password)
    return at.button(key="signin_submit").click().run()


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def test_an_idle_session_must_sign_in_again(strict_app: Callable[[User | None], AppTest],
                                            strict: Workspace) -> None:
    at = sign_in(strict_app(None).run(), "ann", PASSWORD)
    assert titles(at) == ["Chat"]
    signed_in_at = at.session_state[ACTIVE_KEY]
    assert abs(signed_in_at - time.time()) < 60
    at.session_state[ACTIVE_KEY] = time.time() - IDLE_S - 1  # the last click, long ago
    at.run()
    assert USER_KEY not in at.session_state
    assert titles(at) == ["Causality"]
    assert "10 minutes without activity" in at.info[0].value
    at.run()  # and it stays signed out
    assert USER_KEY not in at.session_state


def test_a_click_within_the_idle_time_keeps_the_session(
        strict_app: Callable[[User | None], AppTest], strict: Workspace) -> None:
    at = strict_app(strict.users.get("ann")).run()
    at.session_state[ACTIVE_KEY] = time.time() - IDLE_S + 30
    at.run()
    assert at.session_state[USER_KEY].username == "ann"
    assert time.time() - at.session_state[ACTIVE_KEY] < 30  # the click counts as activity


def test_an_idle_single_sign_on_session_ends_too(
        sso_app: Callable[[dict[str, object]], AppTest]) -> None:  # noqa: F811
    at = sso_app({"is_logged_in": True, "email": "ola@example.com", "email_verified": True})
    at.run()
    assert at.session_state[USER_KEY].username == "ola"
    at.session_state[ACTIVE_KEY] = time.time() - 1801  # the default: 30 minutes
    at.run()
    assert USER_KEY not in at.session_state
    assert at.user.get("is_logged_in") is False  # st.logout ran: no silent way back in
    at.run()
    assert USER_KEY not in at.session_state


def test_idle_timeout_is_a_validated_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().workspace.session_idle_timeout_s == 1800
    monkeypatch.setenv("CAUSALITY_WORKSPACE_SESSION_IDLE_TIMEOUT_S", "900")
    assert load_settings().workspace.session_idle_timeout_s == 900
    monkeypatch.setenv("CAUSALITY_WORKSPACE_SESSION_IDLE_TIMEOUT_S", "5")
    with pytest.raises(ConfigError, match=r"workspace\.session_idle_timeout_s"):
        load_settings()
    with pytest.raises(ConfigError, match=r"workspace\.signin_failures_per_address"):
        load_settings(workspace={"signin_failures_per_address": 0})
    with pytest.raises(ConfigError, match=r"workspace\.trusted_proxy_hops"):
        load_settings(workspace={"trusted_proxy_hops": -1})


def test_failures_across_usernames_pause_the_address(
        strict_app: Callable[[User | None], AppTest], address: list[str]) -> None:
    """Password spraying: one wrong guess per username, from one address."""
    at = strict_app(None).run()
    for name in ("ann", "bob", "cy"):
        sign_in(at, name, "Spring2026!")
        assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
    sign_in(at, "dee", PASSWORD)  # even a right password waits now
    assert "Too many failed sign-ins from your network address" in at.error[0].value
    assert USER_KEY not in at.session_state
    address[0] = "203.0.113.9"  # another address is not affected
    sign_in(at, "dee", PASSWORD)
    assert at.session_state[USER_KEY].username == "dee"


def test_right_passwords_do_not_count_against_the_address(
        strict_app: Callable[[User | None], AppTest], address: list[str]) -> None:
    for _ in range(PER_ADDRESS + 1):
        at = sign_in(strict_app(None).run(), "ann", PASSWORD)
        assert at.session_state[USER_KEY].username == "ann"


def test_failed_sign_ins_outlive_the_process_cache(app: App, people: dict[str, User]) -> None:
    """The counts live in the metadata store: another process (here: emptied Streamlit
    caches) still sees them."""
    at = app(None).run()
    for _ in range(FAILED_SIGNINS):
        sign_in(at, "ann", "guessing-wrong-again")
    st.cache_resource.clear()
    sign_in(at, "ann", PASSWORD)
    assert "Too many failed sign-ins for this username" in at.error[0].value
    assert USER_KEY not in at.session_state


@pytest.mark.parametrize(("peer", "forwarded", "hops", "counted"), [
    ("198.51.100.7", [], 0, "198.51.100.7"),
    (None, [], 0, "loopback"),  # Streamlit reports 127.0.0.1 and ::1 as None
    ("198.51.100.7", ["203.0.113.1"], 0, "198.51.100.7"),  # no proxy trusted: header ignored
    ("10.0.0.2", ["203.0.113.1, 10.0.0.1"], 1, "10.0.0.1"),
    ("10.0.0.2", ["203.0.113.1, 10.0.0.1"], 2, "203.0.113.1"),
    ("10.0.0.2", ["198.51.100.9", "203.0.113.1, 10.0.0.1"], 3, "198.51.100.9"),
    ("10.0.0.2", ["203.0.113.1"], 2, "10.0.0.2"),  # fewer entries than proxies: the peer
    ("10.0.0.2", ["not-an-address"], 1, "10.0.0.2"),
    ("2001:db8:1:2:3:4:5:6", [], 0, "2001:db8:1:2::/64"),  # one IPv6 client, one /64
    (None, ["[2001:db8::1]"], 1, "2001:db8::/64"),
])
def test_client_address(peer: str | None, forwarded: list[str], hops: int,
                        counted: str) -> None:
    assert client_address(peer, forwarded, hops) == counted
