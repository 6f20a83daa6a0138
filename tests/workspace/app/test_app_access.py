"""Access page (admins): add people, change role and scope, disable, reset passwords; and the
audit log of who ran what."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from metadata.dashboards import Dashboard
from metadata.users import User
from tests.workspace.app.conftest import PASSWORD
from workspace.service import Workspace

App = Callable[..., AppTest]
NEW_PASSWORD = "another long passphrase"


def open_access(app: App, user: User) -> AppTest:
    at = app(user).run()
    at.switch_page("views/access.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_people_are_listed(app: App, people: dict[str, User]) -> None:
    at = open_access(app, people["admin"])
    table = at.dataframe[0].value
    assert list(table["username"]) == ["ada", "ann", "sam", "vic"]
    assert dict(zip(table["username"], table["app"], strict=True))["sam"] == "shop"


def test_admin_adds_a_person(app: App, ws: Workspace, people: dict[str, User]) -> None:
    at = open_access(app, people["admin"])
    at.text_input(key="add_username").input("nia")
    at.text_input(key="add_password").input(NEW_PASSWORD)
    at.selectbox(key="add_role").select("analyst")
    at.text_input(key="add_app").input("news")
    at.text_input(key="add_email").input("nia@example.com")
    at.button(key="add_submit").click().run()
    assert at.success[0].value == "Added nia (analyst)."
    added = ws.users.authenticate("nia", NEW_PASSWORD)
    assert added is not None
    assert (added.role, added.app_id, added.email) == ("analyst", "news", "nia@example.com")


def test_adding_with_a_short_password_or_a_taken_name_is_explained(
        app: App, ws: Workspace, people: dict[str, User]) -> None:
    at = open_access(app, people["admin"])
    at.text_input(key="add_username").input("nia")
    at.text_input(key="add_password").input("short")
    at.button(key="add_submit").click().run()
    assert "too short" in at.error[0].value and "weak_password" in at.error[0].value
    at.text_input(key="add_username").input("ann")
    at.text_input(key="add_password").input(NEW_PASSWORD)
    at.button(key="add_submit").click().run()
    assert "user_exists" in at.error[0].value
    assert [u.username for u in ws.users.list()] == ["ada", "ann", "sam", "vic"]


def test_change_role_and_scope(app: App, ws: Workspace, people: dict[str, User]) -> None:
    at = open_access(app, people["admin"])
    at.selectbox(key="edit_user").select("vic").run()
    at.selectbox(key="role-vic").select("analyst")
    at.text_input(key="app-vic").input("news")
    at.button(key="save-vic").click().run()
    assert (ws.users.get("vic").role, ws.users.get("vic").app_id) == ("analyst", "news")
    at.text_input(key="app-vic").input("")
    at.button(key="save-vic").click().run()
    assert ws.users.get("vic").app_id is None
    assert "Saved vic: analyst, all apps." in at.success[0].value


def test_disable_enable_and_reset_password(app: App, ws: Workspace,
                                          people: dict[str, User]) -> None:
    at = open_access(app, people["admin"])
    at.selectbox(key="edit_user").select("ann").run()
    at.button(key="disable-ann").click().run()
    assert ws.users.authenticate("ann", PASSWORD) is None
    at.button(key="enable-ann").click().run()
    assert ws.users.authenticate("ann", PASSWORD) is not None
    at.text_input(key="pw-ann").input(NEW_PASSWORD).run()
    at.button(key="reset-ann").click().run()
    assert ws.users.authenticate("ann", PASSWORD) is None
    assert ws.users.authenticate("ann", NEW_PASSWORD) is not None


def test_admin_cannot_lock_themselves_out(app: App, people: dict[str, User]) -> None:
    at = open_access(app, people["admin"])
    assert at.selectbox(key="edit_user").value == "ada"
    assert at.button(key="disable-ada").disabled
    assert at.selectbox(key="role-ada").disabled


def test_audit_log_shows_who_ran_what(app: App, people: dict[str, User],
                                      board: Dashboard) -> None:
    viewer = app(people["viewer"]).run()  # lands on Dashboards: two tiles run as vic
    assert len(viewer.get("plotly_chart")) == 2
    at = open_access(app, people["admin"])
    audit = at.dataframe[1].value
    assert set(audit["who"]) == {"vic"} and set(audit["from"]) == {"dashboard"}
    assert any("GROUP BY app_id" in sql for sql in audit["sql"])
