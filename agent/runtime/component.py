"""The one shape of every long-running part of the agent: name, run, health, status.

A component runs until cancelled; the :class:`~agent.runtime.supervisor.Supervisor` restarts it
alone when it raises or hangs. It reports health through its :class:`HealthTracker`
(transitions only) and liveness through its :class:`Heartbeat`; ``status()`` is what the
technician's ``edge-agent status`` shows about it (never secrets). ``reconfigure`` is the one
path a new settings snapshot reaches it (config orders); the default keeps the old settings.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from agent.health import Health, HealthState, HealthTracker, Heartbeat
from agent.sources.readings import Emit, Reading, Source, SourceHealth

if TYPE_CHECKING:
    from agent.config import AgentConfig

log = logging.getLogger(__name__)


class Component(ABC):
    name: str
    #: the systemd watchdog is fed only while every critical component's heartbeat is fresh
    critical: bool = False
    #: a heartbeat older than this means the component is hung (None: not watched)
    heartbeat_s: float | None = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.tracker = HealthTracker(name)
        self._heartbeat = Heartbeat()

    @property
    def heartbeat(self) -> Heartbeat:
        return self._heartbeat

    @property
    def health(self) -> Health:
        return self.tracker.current

    @abstractmethod
    async def run(self) -> None:
        """Work until cancelled. Raising is a crash: the supervisor restarts it."""

    def status(self) -> dict[str, Any]:
        return {}

    def reconfigure(self, config: AgentConfig) -> bool:
        """Take a new settings snapshot (immutable, never changed in place). Return True when
        the component must be restarted to apply it (the supervisor does that); default:
        nothing of this component's changed."""
        return False


class TaskComponent(Component):
    """A component whose work is one coroutine function (the tick loop, the uplink...)."""

    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[None]],
        *,
        critical: bool = False,
        heartbeat: Heartbeat | None = None,
        heartbeat_s: float | None = None,
        status: Callable[[], dict[str, Any]] | None = None,
        reconfigure: Callable[[AgentConfig], bool] | None = None,
    ) -> None:
        super().__init__(name)
        self._work = work
        self._reconfigure = reconfigure
        self.critical = critical
        self.heartbeat_s = heartbeat_s
        if heartbeat is not None:
            self._heartbeat = heartbeat
        self._status = status

    async def run(self) -> None:
        self.tracker.ok()
        await self._work()

    def status(self) -> dict[str, Any]:
        return self._status() if self._status is not None else {}

    def reconfigure(self, config: AgentConfig) -> bool:
        return self._reconfigure(config) if self._reconfigure is not None else False


class SourceComponent(Component):
    """A vehicle source (GNSS, CAN, OBD, power, a camera) as a component.

    Its readings go through one guarded path: a consumer that raises is logged and counted,
    never propagated into the source. Its ``SourceHealth`` readings set the component's health
    (the tracker's transitions, not the raw readings, reach the rules).
    """

    heartbeat_s = 10.0  # readers look at their stop flag at least every read timeout (≤ 1 s)

    def __init__(self, source: Source, consumer: Emit,
                 rebuild: Callable[[AgentConfig], Source | None] | None = None) -> None:
        super().__init__(source.name)
        self.source = source
        self._rebuild = rebuild
        self._heartbeat = source.heartbeat
        self._consumer = consumer
        self.readings = 0
        self.consumer_errors = 0

    @property
    def health(self) -> Health:
        """The tracker's health, with a source's own activity (a camera's frames) folded in."""
        h = self.tracker.current
        seen = self.source.last_activity()
        if seen is not None and (h.last_activity is None or seen > h.last_activity):
            return replace(h, last_activity=seen)
        return h

    async def run(self) -> None:
        await self.source.run(self.emit)

    def emit(self, reading: Reading) -> None:
        """The guarded path every reading of this source takes (on the event loop)."""
        if isinstance(reading, SourceHealth):
            if reading.ok:
                self.tracker.ok(reading.detail)
            else:
                self.tracker.down(reading.detail or "fault")
            return
        self.readings += 1
        self.tracker.activity()
        if self.health.state is HealthState.STARTING:
            self.tracker.ok("reading")
        try:
            self._consumer(reading)
        except Exception:
            self.consumer_errors += 1
            if self.consumer_errors in (1, 10, 100) or self.consumer_errors % 1000 == 0:
                log.exception("%s: reading consumer failed (%d so far) for %r",
                              self.name, self.consumer_errors, reading)

    def status(self) -> dict[str, Any]:
        return {"readings": self.readings, "consumer_errors": self.consumer_errors,
                **self.source.diagnostics()}

    def reconfigure(self, config: AgentConfig) -> bool:
        """A changed ``[vehicle.<name>]`` section: a new source from it, then a restart."""
        if self._rebuild is None:
            return False
        source = self._rebuild(config)
        if source is None:
            return False
        source.heartbeat.last = self.source.heartbeat.last
        self.source = source
        self._heartbeat = source.heartbeat
        return True
