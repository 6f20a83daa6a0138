"""The only page a signed-out visitor sees."""

from __future__ import annotations

from workspace.app._auth import render_signin
from workspace.app._context import get_workspace

render_signin(get_workspace())
