"""Shared by the analyst page tests: open a page through main.py's navigation, read what a
download button hands to the browser, and a query that runs for minutes unless cancelled."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from metadata.users import User

# 34 events to the 7th power ≈ 5e10 rows to count: minutes on DuckDB, so only a cancel
# (or the policy's timeout) ends it.
# Runs until stopped, within every cap: one small row per step, a billion steps.
SLOW_SQL = ("WITH RECURSIVE steps(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM steps "
            "WHERE n < 1000000000) SELECT count(*) AS n FROM steps")


def open_page(app: Callable[..., AppTest], user: User | None, page: str) -> AppTest:
    """Sign `user` in, run main.py, then switch to ``views/<page>.py`` as its menu would."""
    at = app(user)
    at.run()
    at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Every markdown, caption, alert and code block on the page, one per line."""
    parts = [getattr(e, "value", "") for kind in ("markdown", "caption", "info", "warning",
                                                 "error", "success", "code")
             for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """file name → the bytes each download button was given, as Streamlit stored them."""
    captured: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self: MemoryMediaFileStorage, path_or_data: str | bytes, mimetype: str,
               kind: object, filename: str | None = None) -> str:
        if isinstance(path_or_data, bytes) and filename:
            captured[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)  # type: ignore[arg-type]

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return captured
