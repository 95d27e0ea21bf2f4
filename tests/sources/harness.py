"""Helpers for the source tests: run a source, collect what it emits, wait for a condition."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from agent.sources.readings import Reading, SignalReading, Source, SourceHealth, TroubleCodes


async def wait_until(pred: Callable[[], bool], within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class Collected(list[Reading]):
    def signals(self) -> list[tuple[str, float]]:
        return [(r.signal.value, r.value) for r in self if isinstance(r, SignalReading)]

    def health(self) -> list[bool]:
        return [r.ok for r in self if isinstance(r, SourceHealth)]

    def dtcs(self) -> list[tuple[str, ...]]:
        return [r.codes for r in self if isinstance(r, TroubleCodes)]


@contextlib.asynccontextmanager
async def running(source: Source) -> AsyncIterator[Collected]:
    out = Collected()
    task = asyncio.create_task(source.run(out.append))
    try:
        yield out
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
