"""Real-browser fixtures: a seeded data dir, the workspace as a real process on a loopback
port (``causality workspace``), and Debian's chromium driven by Playwright (never a downloaded
browser), with a full-page screenshot of every test in ``test-artifacts/browser/``.

Playwright starts inside the fixtures only: this file is also read when the rest of the suite
runs (``pytest -m "not browser"``), where nothing here starts.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from causality.workspace_health import HEALTH_PATH, wait_healthy
from tests.browser._seed import Seeded, seed
from tests.fixtures.ports import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking"]
START_TIMEOUT_S = 120.0  # a cold start imports streamlit, plotly, duckdb, sqlglot on 2 busy cores
STOP_TIMEOUT_S = 15.0
# Streamlit's first render of a page on a loaded 2-core machine can take 20-30 s.
EXPECT_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1400, "height": 1000}
LOG_TAIL_CHARS = 20_000
MAX_SCREENSHOT_HEIGHT = 6_000
_CONTENT_HEIGHT = """() => Math.max(document.body.scrollHeight, ...[...document.querySelectorAll(
    '[data-testid="stMain"], [data-testid="stSidebarContent"]')].map(e => e.scrollHeight))"""


@dataclass(frozen=True)
class Server:
    url: str
    log: Path
    seeded: Seeded


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed(tmp_path_factory.mktemp("browser-data"))


@pytest.fixture(scope="session")
def server(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``causality workspace`` on a free loopback port, until the session ends."""
    port = free_port()
    log = tmp_path_factory.mktemp("browser-server") / "workspace.log"
    command = [sys.executable, "-m", "causality", "workspace", "--host", "127.0.0.1",
               "--port", str(port), "--no-open"]
    # only the seeded settings: none inherited from whoever runs the tests
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSALITY_")} | seeded.env
    with log.open("wb") as out:
        # its own process group: the command runs Streamlit as a child, stopped with it
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield Server(url, log, seeded)
    finally:
        _stop(proc)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    if wait_healthy(url, proc, START_TIMEOUT_S):
        return
    if proc.poll() is not None:
        pytest.fail(f"`causality workspace` exited with {proc.returncode} before it "
                    f"answered:\n{log.read_text(errors='replace')}")
    pytest.fail(f"`causality workspace` did not answer {url}{HEALTH_PATH} within "
                f"{START_TIMEOUT_S:g} s:\n{log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group we started; SIGKILL if it is still there after 15 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            pass
    try:  # the command's Streamlit child, should it outlive the command
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    proc.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _screenshot(page: Page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main block, not the document, so the
    window is made as tall as that block first."""
    tallest = page.evaluate(_CONTENT_HEIGHT)
    height = min(max(int(tallest), VIEWPORT["height"]), MAX_SCREENSHOT_HEIGHT)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.screenshot(path=path, full_page=True)


@pytest.fixture
def page(browser: Browser, server: Server, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context; afterwards a full-page screenshot, pass or fail, and the
    workspace's log when the test failed."""
    context = browser.new_context(viewport=VIEWPORT, base_url=server.url)  # type: ignore[arg-type]
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    opened = context.new_page()
    try:
        yield opened
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            _screenshot(opened, ARTIFACTS / f"{name}.png")
        finally:
            context.close()
        report = getattr(request.node, "report_call", None)
        if report is None or report.failed:
            print(f"--- the workspace's log ({server.log}), last part ---")
            print(server.log.read_text(errors="replace")[-LOG_TAIL_CHARS:])
