"""Runs every component alone: a crash or a hang restarts that one, the others keep running.

openpilot's manager, in asyncio:

* each component runs in its own attempt task; one that raises is marked ``down`` with the
  error, counted, and started again after a capped exponential backoff (reset after it has
  run cleanly for ``STABLE_S``);
* one whose heartbeat is older than its ``heartbeat_s`` is *hung*: marked ``down``, its attempt
  cancelled (a thread stuck in a read is abandoned after ``CANCEL_GRACE_S``) and restarted;
* systemd's watchdog (``WATCHDOG=1``) is fed only while every *critical* component's heartbeat
  is fresh, and ``STATUS=`` names what is not ok, so ``systemctl status`` says it too.

A component that returns on its own (a video file that ended) is finished, not restarted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent import sdnotify
from agent.health import HealthState
from agent.runtime.component import Component

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 60.0
STABLE_S = 60.0  # running this long without a crash resets the backoff
CANCEL_GRACE_S = 5.0
WATCH_PERIOD_S = 0.5


@dataclass(slots=True)
class _Slot:
    component: Component
    attempt: asyncio.Task[None] | None = None
    hung: bool = False
    finished: bool = False
    crashes: int = 0
    started: float = 0.0  # monotonic start of the current attempt
    hang_detail: str = ""
    restart_requested: bool = False


class Supervisor:
    def __init__(
        self,
        components: Iterable[Component],
        *,
        notify: Callable[[str], bool] = sdnotify.notify,
        watchdog_s: float | None = None,
    ) -> None:
        self._slots = {c.name: _Slot(c) for c in components}
        self._notify = notify
        self._watchdog_s = watchdog_s
        self._last_dog = 0.0
        self._last_status = ""
        self._stopping = False
        self.watchdog_sent = 0

    @property
    def components(self) -> dict[str, Component]:
        return {name: slot.component for name, slot in self._slots.items()}

    def add(self, component: Component) -> None:
        """Register before :meth:`run` (the composition root builds the registry)."""
        if component.name in self._slots:
            raise ValueError(f"two components named {component.name!r}")
        self._slots[component.name] = _Slot(component)

    async def run(self) -> None:
        """Supervise until cancelled; then cancel every component and wait for them."""
        async with asyncio.TaskGroup() as tg:
            keepers = [tg.create_task(self._keep(slot), name=f"keep:{name}")
                       for name, slot in self._slots.items()]
            watcher = tg.create_task(self._watch(), name="supervisor-watch")
            try:
                await asyncio.Event().wait()
            finally:
                self._stopping = True
                watcher.cancel()
                for k in keepers:
                    k.cancel()

    async def stop(self, names: Iterable[str]) -> None:
        """Stop some components now (producers first at shutdown); they are not restarted."""
        waits = []
        for name in names:
            slot = self._slots.get(name)
            if slot is None or slot.attempt is None or slot.attempt.done():
                continue
            slot.finished = True
            slot.attempt.cancel()
            waits.append(slot.attempt)
        if waits:
            await asyncio.wait(waits, timeout=CANCEL_GRACE_S)

    def restart(self, name: str) -> None:
        """Restart a component now (new settings); not counted as a fault."""
        slot = self._slots[name]
        if slot.attempt is not None and not slot.attempt.done():
            slot.restart_requested = True
            slot.attempt.cancel()

    # --- keeping one component running ------------------------------------------------------

    async def _keep(self, slot: _Slot) -> None:
        c = slot.component
        delay = BACKOFF_MIN_S
        while not slot.finished:
            started = slot.started = time.monotonic()
            slot.hung = False
            slot.attempt = asyncio.create_task(c.run(), name=f"component:{c.name}")
            try:
                await asyncio.wait({slot.attempt})
            except asyncio.CancelledError:
                await self._cancel_attempt(slot)
                raise
            attempt = slot.attempt
            if slot.finished:
                return
            if time.monotonic() - started >= STABLE_S:
                delay = BACKOFF_MIN_S
            if slot.restart_requested:  # reconfigured: at once, not a fault
                slot.restart_requested = False
                log.info("component %s restarting with new settings", c.name)
                continue
            if attempt.cancelled():
                if not slot.hung:  # cancelled from inside: treat as an exit
                    return
                why = slot.hang_detail
            elif (exc := attempt.exception()) is not None:
                slot.crashes += 1
                why = f"crashed: {type(exc).__name__}: {exc}"
                log.error("component %s crashed; restarting in %.0f s", c.name, delay,
                          exc_info=exc)
            else:
                log.info("component %s finished", c.name)
                c.tracker.set(HealthState.DOWN, "finished")
                slot.finished = True
                return
            c.tracker.down(f"{why}; restarting in {delay:g} s")
            c.tracker.restarted()
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _cancel_attempt(self, slot: _Slot) -> None:
        attempt = slot.attempt
        if attempt is None or attempt.done():
            return
        attempt.cancel()
        _, pending = await asyncio.wait({attempt}, timeout=CANCEL_GRACE_S)
        if pending:
            log.error("component %s did not stop within %.0f s; abandoned",
                      slot.component.name, CANCEL_GRACE_S)

    # --- heartbeats, watchdog, STATUS= --------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_PERIOD_S)
            self.check()

    def stale(self) -> list[str]:
        """Components whose heartbeat is older than they allow (a restart does not make it
        fresh: only the component's own loop does)."""
        return [name for name, slot in self._slots.items()
                if slot.component.heartbeat_s is not None and not slot.finished
                and slot.component.heartbeat.age() > slot.component.heartbeat_s]

    def _hung(self) -> list[str]:
        """Stale components whose current attempt has had its full heartbeat period."""
        now = time.monotonic()
        out = []
        for name in self.stale():
            slot = self._slots[name]
            limit = slot.component.heartbeat_s
            assert limit is not None
            if slot.attempt is None or slot.attempt.done() or slot.hung:
                continue  # not started yet, waiting out a restart backoff, or being cancelled
            if now - slot.started > limit:
                out.append(name)
        return out

    def check(self) -> None:
        """One round: hung components restarted, watchdog fed or not, STATUS= updated."""
        stale = set(self.stale())
        for name in self._hung():
            slot = self._slots[name]
            age = slot.component.heartbeat.age()
            log.error("component %s hung: no heartbeat for %.1f s; restarting", name, age)
            slot.hung = True
            slot.hang_detail = f"hung: no heartbeat for {age:.1f} s"
            slot.component.tracker.down(slot.hang_detail)
            task = slot.attempt
            if task is not None:
                task.cancel()
        critical_stale = sorted(n for n in stale if self._slots[n].component.critical)
        if not critical_stale and self._watchdog_s is not None:
            now = time.monotonic()
            if now - self._last_dog >= self._watchdog_s:
                self._last_dog = now
                if self._notify("WATCHDOG=1"):
                    self.watchdog_sent += 1
        status = self.status_line(critical_stale)
        if status != self._last_status:
            self._last_status = status
            self._notify(f"STATUS={status}")

    def status_line(self, critical_stale: list[str] | None = None) -> str:
        bad = [
            f"{name} {slot.component.health.state}"
            for name, slot in self._slots.items()
            if slot.component.health.state in (HealthState.DOWN, HealthState.DEGRADED)
            and not (slot.finished and slot.component.health.detail == "finished")
        ]
        if critical_stale:
            return f"watchdog held: {', '.join(critical_stale)} hung; " + "; ".join(bad)
        if bad:
            return "degraded: " + ", ".join(bad)
        return f"ok: {len(self._slots)} components"
