"""How the sink's tasks pace themselves: wait for an event, at most so long."""

from __future__ import annotations

import asyncio


async def set_within(event: asyncio.Event, seconds: float) -> bool:
    """True once ``event`` is set; False when ``seconds`` passed first."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
