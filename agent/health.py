"""One health vocabulary for every long-running part of the agent.

A component's health is one of four states (``starting``, ``ok``, ``degraded``, ``down``) with
when it entered that state, a short detail, when the component last did something useful,
how often the supervisor restarted it and the last error. Only *transitions* (a change of
state) are reported to listeners, so a fault is announced once however long it lasts.

Liveness is separate from health: a :class:`Heartbeat` is stamped by the component's own loop
(thread or coroutine) each time round; the supervisor calls a component *hung* when its
heartbeat is older than the component's ``heartbeat_s``. A device that is unplugged leaves a
source ``down`` but alive (its loop keeps retrying, its heartbeat stays fresh); a thread stuck
in a read leaves the heartbeat stale.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any


class HealthState(StrEnum):
    STARTING = "starting"
    OK = "ok"
    DEGRADED = "degraded"  # working, but not fully (uplink backing off, a camera of two...)
    DOWN = "down"  # not doing its job (device gone, crashed, hung)


@dataclass(frozen=True, slots=True)
class Health:
    state: HealthState
    since: float  # wall clock, epoch s, when ``state`` was entered
    detail: str = ""
    last_activity: float | None = None  # wall clock of the last useful work (a reading...)
    restarts: int = 0
    last_error: str = ""

    @property
    def healthy(self) -> bool:
        return self.state in (HealthState.OK, HealthState.STARTING)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["health"] = str(d.pop("state"))
        return d


@dataclass(frozen=True, slots=True)
class HealthChange:
    """A transition: ``component`` went from ``previous`` (None: first report) to ``health``."""

    component: str
    previous: HealthState | None
    health: Health


HealthListener = Callable[[HealthChange], None]


class HealthTracker:
    """The health of one component; thread-safe (readers' threads report into it).

    Listeners are called on the thread that reports the transition; the runtime's listener
    hops to the event loop itself.
    """

    def __init__(self, component: str, clock: Callable[[], float] = time.time) -> None:
        self.component = component
        self._clock = clock
        self._lock = threading.Lock()
        self._health = Health(HealthState.STARTING, clock())
        self._listeners: list[HealthListener] = []

    @property
    def current(self) -> Health:
        return self._health

    def subscribe(self, listener: HealthListener) -> None:
        self._listeners.append(listener)

    def set(self, state: HealthState, detail: str = "", *, error: bool = False) -> bool:
        """Enter ``state``; True (and listeners told) only when the state changed.

        The detail of an unchanged state is refreshed silently; ``error`` also records the
        detail as ``last_error``.
        """
        with self._lock:
            old = self._health
            changed = old.state is not state
            new = replace(
                old,
                state=state,
                since=self._clock() if changed else old.since,
                detail=detail,
                last_error=detail if error else old.last_error,
            )
            self._health = new
        if changed:
            change = HealthChange(self.component, old.state, new)
            for listener in self._listeners:
                listener(change)
        return changed

    def ok(self, detail: str = "") -> bool:
        return self.set(HealthState.OK, detail)

    def degraded(self, detail: str) -> bool:
        return self.set(HealthState.DEGRADED, detail, error=True)

    def down(self, detail: str) -> bool:
        return self.set(HealthState.DOWN, detail, error=True)

    def activity(self) -> None:
        """Useful work happened now (a reading, a frame, a delivered batch)."""
        t = self._clock()
        with self._lock:
            self._health = replace(self._health, last_activity=t)

    def restarted(self) -> None:
        with self._lock:
            self._health = replace(self._health, restarts=self._health.restarts + 1)


class Heartbeat:
    """Liveness of one component's loop: ``beat()`` each time round (any thread).

    ``hang_for`` and ``crash_next`` are test hooks (enabled by ``[runtime] test_hooks``): the
    next ``beat()`` from a thread blocks (or raises) for real, and :meth:`checkpoint` does the
    same for a coroutine, so a test can watch the supervisor and the watchdog meet a genuinely
    stuck or crashing component.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.last = clock()
        self._hang_until = 0.0
        self._crash = False

    def beat(self) -> None:
        self._maybe_crash()
        while (left := self._hang_until - self._clock()) > 0:
            time.sleep(min(left, 0.2))
        self.last = self._clock()

    def _maybe_crash(self) -> None:
        if self._crash:
            self._crash = False
            raise RuntimeError("test hook: crash")

    async def checkpoint(self) -> None:
        """``beat()`` for coroutines: honours the hang hook without blocking the loop."""
        import asyncio

        self._maybe_crash()
        left = self._hang_until - self._clock()
        if left > 0:
            await asyncio.sleep(left)
        self.last = self._clock()

    def age(self) -> float:
        return self._clock() - self.last

    def hang_for(self, seconds: float) -> None:
        self._hang_until = self._clock() + seconds

    def crash_next(self) -> None:
        self._crash = True


class BeatingEvent(threading.Event):
    """A stop flag that stamps a heartbeat whenever a reader loop looks at it.

    Every reader thread asks ``stop.is_set()`` once per read (bounded by its read timeout)
    and waits on it between reconnects, so handing it this event makes the loop's liveness
    visible without touching the backend. Long waits are sliced so a reconnect backoff of
    30 s does not look like a hang.
    """

    SLICE_S = 1.0

    def __init__(self, heartbeat: Heartbeat) -> None:
        super().__init__()
        self.heartbeat = heartbeat

    def is_set(self) -> bool:
        self.heartbeat.beat()
        return super().is_set()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.heartbeat.beat()
            left = self.SLICE_S if deadline is None else min(self.SLICE_S,
                                                              deadline - time.monotonic())
            if left <= 0:
                return super().is_set()
            if super().wait(left):
                return True


def tallies(counts: Counter[str], *names: str) -> dict[str, int]:
    """``counts`` of ``names`` for a diagnostics dump, in that order; 0 for what never happened
    (``dict(counts)`` would leave those out)."""
    return {name: counts[name] for name in names}
