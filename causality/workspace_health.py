"""Is the workspace (a Streamlit server) up? Its health check, and waiting for it.

Kept apart from the CLI so that tests and the supervisor can use it without importing the
command tree.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request

HEALTH_PATH = "/_stcore/health"
HEALTH_POLL_S = 0.2  # between health checks, cut short if the process exits


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | subprocess.Popen[str],
                 timeout_s: float) -> bool:
    """True once the workspace at ``url`` answers its health check; False if ``proc`` exits
    first or ``timeout_s`` passes. Between checks it waits on the process itself."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        if healthy(url):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            proc.wait(timeout=min(HEALTH_POLL_S, left))
        except subprocess.TimeoutExpired:
            continue
    return False


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + HEALTH_PATH, timeout=2) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False
