"""Who sees and manages which dashboard, and the dashboard view kept in the URL.

A person scoped to an app sees the dashboards of that app and the unscoped ones, and may
change only their app's; an unscoped analyst may change any. The URL holds the dashboard
(``d``) and the filters (``from``, ``to``, ``app``) so that a link reproduces the view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from causality.errors import CausalityError
from metadata.dashboards import Dashboard
from metadata.users import User
from workspace.app._look import plain
from workspace.filters import Filters
from workspace.service import Workspace

FILTER_PARAMS = ("from", "to", "app")


def visible_dashboards(ws: Workspace, user: User) -> list[Dashboard]:
    return [b for b in ws.dashboards.list()
            if user.app_id is None or b.app_id in (None, user.app_id)]


def can_manage(user: User, board: Dashboard) -> bool:
    return user.can("analyst") and (user.app_id is None or board.app_id == user.app_id)


def label(board: Dashboard) -> str:
    return f"{board.name} · {board.app_id}" if board.app_id else board.name


@dataclass(frozen=True)
class UrlView:
    dashboard_id: str | None
    filters: Filters
    problems: list[str] = field(default_factory=list)


def read_view(params: Mapping[str, str], user: User) -> UrlView:
    """The view a URL asks for; each bad value is dropped with a sentence saying why."""
    problems: list[str] = []
    good: dict[str, str] = {}
    for name in FILTER_PARAMS:
        value = params.get(name)
        if not value:
            continue
        try:
            Filters.from_params({name: value})
        except CausalityError as err:
            problems.append(f"Ignored `{name}` in the link: {plain(err.message)} "
                            f"({plain(err.hint)}).")
        else:
            good[name] = value
    try:
        filters = Filters.from_params(good)
    except CausalityError as err:
        problems.append(f"Ignored the dates in the link: {plain(err.message)} "
                        f"({plain(err.hint)}).")
        filters = Filters(app_id=good.get("app"))
    if user.app_id is not None and filters.app_id not in (None, user.app_id):
        problems.append(f"Your account sees only app {plain(user.app_id)}, so the link's "
                        f"app {plain(filters.app_id)} was replaced.")
    if user.app_id is not None:
        filters = Filters(filters.start, filters.end, user.app_id)
    return UrlView(params.get("d") or None, filters, problems)


def view_params(board: Dashboard, filters: Filters) -> dict[str, str]:
    return {"d": board.dashboard_id, **filters.to_params()}
