"""UUID version 7 (RFC 9562): 48-bit Unix milliseconds, then randomness.

Within one process the 12-bit ``rand_a`` field is a counter inside each millisecond
(RFC 9562 section 6.2, method 1), so ids sort in call order. ``rand_b`` is 62 bits from a
private generator seeded by ``os.urandom`` and reseeded in every forked child, so a host
app calling ``random.seed()`` cannot make two processes produce the same ids, and no
syscall is paid per id.
"""

from __future__ import annotations

import os
import random
import threading
import time

_lock = threading.Lock()
_rng = random.Random(os.urandom(32))  # noqa: S311 - uniqueness, not secrecy
_last_ms = 0
_seq = 0


def uuid7() -> str:
    global _last_ms, _seq
    ms = time.time_ns() // 1_000_000
    with _lock:
        if ms > _last_ms:
            _last_ms, _seq = ms, 0
        else:  # same millisecond, or the clock stepped back: keep ids increasing
            _seq += 1
            if _seq > 0xFFF:
                _last_ms, _seq = _last_ms + 1, 0
        ms, seq = _last_ms, _seq
        rand = _rng.getrandbits(62) | 0x8000_0000_0000_0000
    h = f"{ms & 0xFFFF_FFFF_FFFF:012x}{0x7000 | seq:04x}{rand:016x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _rng.seed(os.urandom(32))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
