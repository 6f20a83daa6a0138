"""How a server process runs: on uvloop (the pipeline extra installs it), and with automatic
garbage collection off, collecting on a timer instead: cycles are still freed, within about one
interval."""

import asyncio
import gc
import weakref

import uvloop

from pipeline.ingest._serve import _collect_garbage, _run_loop


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


def test_a_server_process_runs_on_uvloop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())

    _run_loop(main())
    assert isinstance(loops[0], uvloop.Loop)
