"""A server process turns automatic garbage collection off and collects on a timer instead:
cycles are still freed, within about one interval."""

import asyncio
import gc
import weakref

from pipeline.ingest._serve import _collect_garbage


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_cycles_are_collected_on_the_timer() -> None:
    async def scenario() -> bool:
        freed = asyncio.Event()
        node = Node()
        weakref.finalize(node, freed.set)
        del node
        assert not freed.is_set()  # refcounting alone cannot free a cycle
        task = asyncio.create_task(_collect_garbage(0.05))
        try:
            async with asyncio.timeout(10):
                await freed.wait()
        finally:
            task.cancel()
        return freed.is_set()

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        assert asyncio.run(scenario())
    finally:
        if was_enabled:
            gc.enable()
