"""Loopback addresses and free ports, for the workspace command and the supervisor."""

from __future__ import annotations

import socket


def local_url(host: str, port: int) -> str:
    """Where this machine reaches the workspace (a wildcard address is reached on loopback)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a comparison
    return f"http://{shown}:{port}"


def pick_port(host: str, port: int) -> int:
    """``port``, or a free one when it is 0."""
    if port:
        return port
    with socket.socket() as sock:
        sock.bind((host if host not in ("", "::") else "0.0.0.0", 0))  # noqa: S104
        return int(sock.getsockname()[1])
