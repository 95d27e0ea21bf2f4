"""The shared reader-thread template: readings reach the loop, a crash is reported and restarted,
cancellation stops the thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from agent.sources.readings import Reading, Signal, SignalReading, SourceHealth
from agent.sources.threaded import HandOver, ThreadedSource


class Flaky(ThreadedSource):
    """Crashes on its first run, then emits one reading per 10 ms until stopped."""

    name = "flaky"
    restart_after_crash_s = 0.05

    def __init__(self) -> None:
        self.runs = 0
        self.threads: set[str] = set()

    def read_loop(self, stop: threading.Event, hand_over: HandOver) -> None:
        self.runs += 1
        self.threads.add(threading.current_thread().name)
        if self.runs == 1:
            raise RuntimeError("bug in the decoder")
        n = 0
        while not stop.wait(0.01):
            n += 1
            hand_over([SignalReading(float(n), Signal.ENGINE_RPM, 800.0 + n, "sim")])


async def test_crash_is_reported_then_the_reader_restarts_and_cancel_stops_it() -> None:
    src = Flaky()
    got: list[Reading] = []
    loop_thread = threading.current_thread()
    seen_on: set[threading.Thread] = set()

    five = asyncio.Event()

    def emit(r: Reading) -> None:
        seen_on.add(threading.current_thread())
        got.append(r)
        if sum(isinstance(x, SignalReading) for x in got) >= 5:
            five.set()

    task = asyncio.create_task(src.run(emit))
    await asyncio.wait_for(five.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert isinstance(got[0], SourceHealth)
    assert (got[0].source, got[0].ok) == ("flaky", False)
    assert "reader crashed: bug in the decoder" in got[0].detail
    assert src.runs == 2
    assert seen_on == {loop_thread}  # emit always on the event loop thread
    assert src.threads == {"flaky-reader"}
    assert not any(t.name == "flaky-reader" for t in threading.enumerate())
