"""What the Alerts page's tabs share: the tenant each person may manage, messages that survive
a rerun, errors shown next to the field they name, JSON read with a depth limit (hostile
nesting is a coded error, never a RecursionError), and times as text."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from causality.errors import CausalityError
from metadata.users import User
from workspace.app._look import plain
from workspace.app._results import show_error
from workspace.reactions import ReactionsError
from workspace.service import Workspace

FLASH_KEY = "alerts.flash"
EXCERPT_CHARS = 120
# Far above any rule's or monitor's own nesting limit, far below the parsers' recursion limits.
MAX_INPUT_DEPTH = 64


def flash(message: str) -> None:
    """Show ``message`` as a success on the next run, then rerun."""
    st.session_state[FLASH_KEY] = message
    st.rerun()


def show_flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(message)


def app_scope(user: User) -> str | None:
    """The one app ``user`` may see and manage, or None for every app."""
    return user.app_id


def may_manage(ws: Workspace, user: User, app_id: str) -> bool:
    """Whether ``user`` may change what belongs to ``app_id`` (shows why not)."""
    try:
        ws.scope(user, app_id)
    except CausalityError as err:
        show_error(err)
        return False
    return True


def field_error(slots: Mapping[str, DeltaGenerator], err: CausalityError,
                fallback: str) -> None:
    """``err`` under the input its ``field`` fact names (by the field's first part)."""
    field = str(err.facts.get("field") or "")
    head = field.split(".")[0].split("[")[0]
    slot = slots.get(head) or slots[fallback]
    with slot.container():
        show_error(err)


def loads(text: str) -> dict[str, Any]:
    """A stored JSON object, or an empty one when it is not one (shown, never raised)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def parse_input(text: str, field: str, hint: str) -> Any:
    """JSON a person typed into ``field``; :class:`ReactionsError` coded ``too_deep`` (over
    :data:`MAX_INPUT_DEPTH`; orjson's own limit makes hostile depth a ValueError, never a
    RecursionError) or ``invalid_json``, naming the field."""
    try:
        value = orjson.loads(text)
        deep = depth(value) > MAX_INPUT_DEPTH
    except orjson.JSONDecodeError as exc:
        deep = "depth" in str(exc)
        why = f"nested too deeply ({exc})" if deep else f"not JSON ({exc})"
    else:
        if not deep:
            return value
        why = f"nested more than {MAX_INPUT_DEPTH} deep"
    raise ReactionsError(f"{field}: {why}", code="too_deep" if deep else "invalid_json",
                         field=field,
                         hint="flatten it: and/or take many operands" if deep else hint)


def depth(value: Any) -> int:
    """How deeply lists and objects nest in decoded JSON (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else (
            item if isinstance(item, list) else None)
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def when(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def excerpt(text: object, limit: int = EXCERPT_CHARS) -> str:
    one_line = " ".join(str(text or "").split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def plain_list(items: list[str]) -> str:
    return ", ".join(plain(i) for i in items) or "none"
