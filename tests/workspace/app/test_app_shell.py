"""The app shell: sign-in, navigation by role, sign-out, and the second lock on every page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from metadata.users import User
from tests.workspace.app._markdown import shown
from tests.workspace.app.conftest import PASSWORD
from workspace.app._auth import FAILED_SIGNINS, WRONG_CREDENTIALS
from workspace.app._context import USER_KEY
from workspace.app._nav import entries_for
from workspace.service import Workspace

App = Callable[..., AppTest]


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="signin_username").input(username)
    at.text_input(key="signin_password").input(password)
    return at.button(key="signin_submit").click().run()


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def test_signed_out_visitor_sees_only_the_sign_in_page(app: App,
                                                       people: dict[str, User]) -> None:
    at = app(None).run()
    assert not at.exception
    assert titles(at) == ["Causality"]
    assert [w.label for w in at.text_input] == ["Username", "Password"]
    assert len(at.sidebar) == 0
    for page in ("views/dashboards.py", "views/share.py", "views/settings.py",
                 "views/access.py"):
        with pytest.raises(ValueError, match="navigation page"):
            at.switch_page(page)


def test_wrong_password_and_unknown_user_get_the_same_generic_message(
        app: App, people: dict[str, User]) -> None:
    at = app(None).run()
    sign_in(at, "ada", "not the password at all")
    assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
    sign_in(at, "nobody-here", PASSWORD)
    assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
    assert USER_KEY not in at.session_state
    assert titles(at) == ["Causality"]


def test_disabled_account_cannot_sign_in(app: App, ws: Workspace,
                                         people: dict[str, User]) -> None:
    ws.users.update("vic", disabled=True)
    at = sign_in(app(None).run(), "vic", PASSWORD)
    assert [e.value for e in at.error] == [WRONG_CREDENTIALS]


def test_right_password_signs_in_and_sign_out_forgets(app: App,
                                                      people: dict[str, User]) -> None:
    at = sign_in(app(None).run(), "vic", PASSWORD)
    assert not at.exception
    assert at.session_state[USER_KEY].username == "vic"
    assert titles(at) == ["Dashboards"]
    assert "**vic**  \nviewer" in [m.value for m in at.sidebar.markdown]
    at.button(key="signout").click().run()
    at.run()
    assert USER_KEY not in at.session_state
    assert titles(at) == ["Causality"]


def test_repeated_failures_lock_the_username_for_a_while(app: App,
                                                         people: dict[str, User]) -> None:
    at = app(None).run()
    for _ in range(FAILED_SIGNINS):
        sign_in(at, "ann", "guessing-wrong-again")
        assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
    sign_in(at, "ann", PASSWORD)  # even the right password waits now
    assert "Too many failed sign-ins" in at.error[0].value
    assert USER_KEY not in at.session_state
    sign_in(at, "ada", PASSWORD)  # other usernames are not affected
    assert at.session_state[USER_KEY].username == "ada"


def test_viewer_navigation_has_only_dashboards(app: App, people: dict[str, User]) -> None:
    assert [p.title for p in entries_for(people["viewer"])] == ["Dashboards"]
    at = app(people["viewer"]).run()
    assert titles(at) == ["Dashboards"]
    for page in ("views/sql.py", "views/share.py", "views/settings.py", "views/access.py"):
        with pytest.raises(ValueError, match="navigation page"):
            at.switch_page(page)


def test_analyst_and_admin_navigation(app: App, people: dict[str, User]) -> None:
    analyst = [p.title for p in entries_for(people["analyst"])]
    assert analyst == ["Chat", "Insights", "SQL", "Dashboards", "Share", "Alerts"]
    assert [p.title for p in entries_for(people["admin"])] == [*analyst, "Settings", "Access"]
    at = app(people["analyst"]).run()
    with pytest.raises(ValueError, match="navigation page"):
        at.switch_page("views/settings.py")
    at = app(people["admin"]).run()
    assert titles(at.switch_page("views/settings.py").run()) == ["Settings"]
    assert titles(at.switch_page("views/access.py").run()) == ["Access"]


def test_role_change_takes_effect_on_the_next_run(app: App, ws: Workspace,
                                                  people: dict[str, User]) -> None:
    at = app(people["admin"]).run()
    at.switch_page("views/access.py").run()
    ws.users.update("ada", role="viewer")
    at.run()
    assert at.session_state[USER_KEY].role == "viewer"
    assert titles(at) == ["Dashboards"]  # Access left the menu; its URL lands on the default
    assert "**ada**  \nviewer" in [m.value for m in at.sidebar.markdown]


def test_disabled_while_signed_in_is_signed_out(app: App, ws: Workspace,
                                                people: dict[str, User]) -> None:
    at = app(people["analyst"]).run()
    ws.users.update("ann", disabled=True)
    at.run()
    assert USER_KEY not in at.session_state
    assert titles(at) == ["Causality"]
    assert at.info[0].value == "Your account is no longer active."


def test_page_file_opened_directly_still_checks_the_role(people: dict[str, User],
                                                          ws: Workspace) -> None:
    from tests.workspace.app.conftest import MAIN, TIMEOUT_S
    from workspace.app._context import WORKSPACE_KEY

    at = AppTest.from_file(str(MAIN.parent / "views" / "access.py"), default_timeout=TIMEOUT_S)
    at.session_state[WORKSPACE_KEY] = ws
    at.session_state[USER_KEY] = people["analyst"]
    at.run()
    assert "This page needs the admin role" in at.error[0].value
    signed_out = AppTest.from_file(str(MAIN.parent / "views" / "share.py"),
                                   default_timeout=TIMEOUT_S)
    signed_out.session_state[WORKSPACE_KEY] = ws
    signed_out.run()
    assert signed_out.error[0].value == "Sign in to see this page."


OIDC = {"oidc_server_metadata_url": "https://id.example.com/.well-known/openid-configuration",
        "oidc_client_id": "causality", "oidc_client_secret": "client-secret",
        "oidc_cookie_secret": "cookie-secret-of-some-length"}


@pytest.fixture
def sso_app(engine: object, db: object, tmp_path: object) -> Callable[[dict[str, object]], AppTest]:
    """`sso_app(identity)`: the app with OIDC configured and `identity` as st.user."""
    from causality.settings import load_settings
    from tests.workspace.app.conftest import MAIN, TIMEOUT_S
    from workspace.app._context import WORKSPACE_KEY

    settings = load_settings(data_dir=tmp_path, workspace=OIDC)
    ws = Workspace(settings, engine=engine, db=db)  # type: ignore[arg-type]
    ws.users.add("ola", None, "analyst", app_id="shop", email="Ola@Example.com")

    def make(identity: dict[str, object]) -> AppTest:
        at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT_S)
        at.session_state[WORKSPACE_KEY] = ws
        at.user = identity
        return at

    return make


def test_sso_button_is_offered_when_oidc_is_configured(
        sso_app: Callable[[dict[str, object]], AppTest]) -> None:
    at = sso_app({"is_logged_in": False}).run()
    assert [b.label for b in at.button] == ["Sign in", "Sign in with SSO"]


def test_sso_identity_maps_to_an_account_by_verified_email(
        sso_app: Callable[[dict[str, object]], AppTest]) -> None:
    at = sso_app({"is_logged_in": True, "email": "ola@example.com",
                  "email_verified": True}).run()
    assert at.session_state[USER_KEY].username == "ola"
    assert "**ola**  \nanalyst" in [m.value for m in at.sidebar.markdown]
    at.button(key="signout").click().run()
    assert USER_KEY not in at.session_state
    assert at.user.get("is_logged_in") is False  # st.logout ran
    assert titles(at) == ["Causality"]


def test_sso_identity_without_an_account_or_unverified_is_refused(
        sso_app: Callable[[dict[str, object]], AppTest]) -> None:
    at = sso_app({"is_logged_in": True, "email": "eve@example.com",
                  "email_verified": True}).run()
    assert USER_KEY not in at.session_state
    assert "There is no account for eve@example.com" in shown(at.warning[0].value)
    assert [b.key for b in at.button] == ["signin_submit", "sso_logout"]
    at = sso_app({"is_logged_in": True, "email": "ola@example.com",
                  "email_verified": False}).run()
    assert USER_KEY not in at.session_state
    assert "has not verified ola@example.com" in shown(at.warning[0].value)


def test_empty_store_says_how_to_add_the_first_admin(app: App) -> None:
    at = app(None).run()
    assert "causality users add NAME --role admin" in at.info[0].value
