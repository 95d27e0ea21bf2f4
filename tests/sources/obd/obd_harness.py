"""Helpers for the OBD tests: run a source, collect what it emits, wait for a condition."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from agent.sources.readings import Reading, SignalReading, Source, SourceHealth, TroubleCodes
from agent.sources.settings import ObdSettings


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


def obd_settings(port: str, **kw: object) -> ObdSettings:
    base: dict[str, object] = {"backend": "elm327", "port": port, "poll_interval_s": 0.05,
                               "command_timeout_s": 0.5, "connect_timeout_s": 2.0,
                               "reconnect_s": 0.1}
    base.update(kw)
    return ObdSettings.model_validate(base)


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
