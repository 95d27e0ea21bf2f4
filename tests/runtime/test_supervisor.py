"""The supervisor with real components on a real event loop: crash, hang, watchdog, STATUS=."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from agent.health import HealthChange, HealthState
from agent.runtime import supervisor as sup
from agent.runtime.component import Component, TaskComponent
from agent.runtime.supervisor import Supervisor


class Counter(Component):
    """Counts, beating each round; raises on its first ``crash_after`` rounds when asked."""

    heartbeat_s = 1.0

    def __init__(self, name: str, *, critical: bool = False, crash_after: int | None = None):
        super().__init__(name)
        self.critical = critical
        self.rounds = 0
        self.runs = 0
        self._crash_after = crash_after

    async def run(self) -> None:
        self.runs += 1
        self.tracker.ok("counting")
        while True:
            await self.heartbeat.checkpoint()
            self.rounds += 1
            if self._crash_after is not None and self.runs == 1 and \
                    self.rounds >= self._crash_after:
                raise RuntimeError("boom")
            await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sup, "BACKOFF_MIN_S", 0.2)
    monkeypatch.setattr(sup, "WATCH_PERIOD_S", 0.05)
    monkeypatch.setattr(sup, "CANCEL_GRACE_S", 1.0)


@contextlib.asynccontextmanager
async def running(s: Supervisor) -> AsyncIterator[None]:
    task = asyncio.create_task(s.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for(cond: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_crashing_component_restarts_alone_and_reports_down_then_ok() -> None:
    crasher, steady = Counter("crasher", crash_after=3), Counter("steady")
    changes: list[HealthChange] = []
    crasher.tracker.subscribe(changes.append)
    s = Supervisor([crasher, steady])
    async with running(s):
        await wait_for(lambda: crasher.runs == 2 and crasher.rounds > 10)
        steady_rounds = steady.rounds
        await asyncio.sleep(0.2)
        assert steady.rounds > steady_rounds  # the other kept running throughout
        assert steady.runs == 1
    assert [(c.previous, c.health.state) for c in changes] == [
        (HealthState.STARTING, HealthState.OK),
        (HealthState.OK, HealthState.DOWN),
        (HealthState.DOWN, HealthState.OK),
    ]
    assert changes[1].health.detail.startswith("crashed: RuntimeError: boom")
    assert crasher.health.restarts == 1
    assert crasher.health.last_error.startswith("crashed: RuntimeError: boom")


async def test_a_hung_component_is_detected_by_its_stale_heartbeat_and_restarted() -> None:
    hung = Counter("hung")
    s = Supervisor([hung])
    async with running(s):
        await wait_for(lambda: hung.rounds > 3)
        hung.heartbeat.hang_for(3.0)  # its coroutine really stops at its next checkpoint
        await wait_for(lambda: hung.health.state is HealthState.DOWN)
        assert hung.health.detail.startswith("hung: no heartbeat for")
        await wait_for(lambda: hung.runs == 2 and hung.health.state is HealthState.OK)
    assert hung.health.restarts == 1


async def test_watchdog_is_fed_only_while_every_critical_heartbeat_is_fresh() -> None:
    sent: list[str] = []

    def notify(state: str) -> bool:
        sent.append(state)
        return True

    critical, other = Counter("writer", critical=True), Counter("gnss")
    s = Supervisor([critical, other], notify=notify, watchdog_s=0.05)
    async with running(s):
        await wait_for(lambda: sent.count("WATCHDOG=1") >= 3)
        other.heartbeat.hang_for(1.5)  # a non-critical hang: the watchdog stays fed
        await wait_for(lambda: other.health.state is HealthState.DOWN)
        n = sent.count("WATCHDOG=1")
        await asyncio.sleep(0.3)
        assert sent.count("WATCHDOG=1") > n
        await wait_for(lambda: other.health.state is HealthState.OK)
        critical.heartbeat.hang_for(2.0)
        await wait_for(lambda: any("watchdog held: writer hung" in m for m in sent))
        held_at = sent.count("WATCHDOG=1")
        await asyncio.sleep(0.3)
        assert sent.count("WATCHDOG=1") == held_at  # not fed while the critical one is stale
        await wait_for(lambda: critical.runs == 2 and sent.count("WATCHDOG=1") > held_at, 6.0)
    statuses = [m for m in sent if m.startswith("STATUS=")]
    assert statuses[0] == "STATUS=ok: 2 components"
    assert any(m.startswith("STATUS=degraded: gnss down") for m in statuses)


async def test_a_component_that_finishes_is_not_restarted() -> None:
    done = TaskComponent("file-camera", lambda: asyncio.sleep(0.05))
    s = Supervisor([done])
    async with running(s):
        await wait_for(lambda: done.health.detail == "finished")
        await asyncio.sleep(0.3)
    assert done.health.restarts == 0
    assert s.status_line() == "ok: 1 components"


async def test_stop_cancels_producers_first_and_they_stay_stopped() -> None:
    a, b = Counter("a"), Counter("b")
    s = Supervisor([a, b])
    async with running(s):
        await wait_for(lambda: a.rounds > 2 and b.rounds > 2)
        await s.stop(["a"])
        frozen = a.rounds
        await asyncio.sleep(0.4)
        assert a.rounds == frozen and a.runs == 1
        assert b.rounds > 5
