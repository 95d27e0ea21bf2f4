"""What the order executor may do to the running agent (:class:`agent.orders.executor.OrderPorts`).

The executor decides; these ports carry the decisions out on the agent's own parts: the
publisher (events), the rules engine (positions, geofences, thresholds), the run-time
reconfiguration path (config orders, persisted in :mod:`agent.orders.config_store`) and the
evidence recorder (on-demand images and clips). The order journal lives in the outbox's
database (:class:`JournalDatabase`), so an order's terminal status and its "order executed"
event commit in one transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import AgentError
from agent.events import CameraId, Event, HardwareEventType, VisionDetail, VisionEventType
from agent.orders import config_store
from agent.orders.journal import Action
from agent.rules.geofence import GeofenceSet
from agent.sources.readings import Signal, SignalReading
from agent.store.database import Database, Transaction
from agent.ulid import new_ulid
from agent.vehicle.inputs import RelayStatus, StateInput

if TYPE_CHECKING:
    from agent.app import Agent
    from agent.config import AgentConfig


class JournalDatabase:
    """The shared :class:`Database` as the journal's transaction provider; remembers the open
    :class:`Transaction` so an order's event can be appended inside it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.current: Transaction | None = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.db.transaction("order journal") as tx:
            self.current = tx
            try:
                yield tx.conn
            finally:
                self.current = None


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    loop.call_soon_threadsafe(callback)


class AgentOrderPorts:
    def __init__(self, agent: Agent, base: AgentConfig, overlay_file: Path,
                 journal_db: JournalDatabase | None) -> None:
        self._agent = agent
        self._base = base  # defaults + file + environment: what settings.reset goes back to
        self._file = overlay_file
        self._overlay = config_store.load(overlay_file)
        self._journal_db = journal_db
        self._lock = asyncio.Lock()

    def keys_by_order(self) -> set[str]:
        """Dotted config keys the persisted config orders set (``edge-agent config``)."""
        return config_store.by_order(self._overlay.keys)

    # --- OrderPorts ---------------------------------------------------------------------------

    def speed_kmh(self) -> float | None:
        state = self._agent.engine.state
        return None if state.speed_source == "none" else float(state.speed_kmh)

    def order_event(self, t: float, details: str, original_ulid: str) -> Event:
        return self._agent.engine.hardware_event(t, HardwareEventType.ORDER_EXECUTED, details,
                                                 original_ulid)

    def event_action(self, event: Event) -> Action | None:
        outbox, jdb, agent = self._agent.outbox, self._journal_db, self._agent
        if outbox is None or jdb is None or jdb.db is not outbox.database:
            return None
        loop = asyncio.get_running_loop()

        def append(_conn: sqlite3.Connection) -> None:
            tx = jdb.current
            assert tx is not None, "the action runs inside the journal's transaction"
            outbox.append_in(tx, event)
            tx.on_commit(lambda: _call_soon(loop, agent.wake_uplink))

        return append

    async def publish_event(self, event: Event) -> None:
        await self._publisher().put(event)

    async def force_position(self, t: float) -> str:
        events = self._agent.engine.force_position(t)
        for event in events:
            await self._publisher().put(event)
        ctx = events[0].context if events else None
        fix = ctx.fix if ctx is not None and ctx.fixed else None
        if ctx is None or fix is None or fix.lat is None or fix.lon is None:
            return "Position sent (no GNSS fix: last known position)."
        return f"Position sent: {fix.lat:.6f},{fix.lon:.6f} {ctx.speed_kmh}km/h."

    async def apply_config(self, changes: Sequence[tuple[str, Any]]) -> Mapping[str, str | None]:
        async with self._lock:
            current = self._agent.config
            new, results = config_store.apply(current, changes)
            accepted = {k: v for k, v in changes if results.get(str(k).upper()) is None}
            if not accepted:
                return results
            overlay = config_store.ConfigOverlay(
                self._overlay.version + 1,
                {**self._overlay.keys, **{str(k).upper(): v for k, v in accepted.items()}})
            await asyncio.to_thread(config_store.save, self._file, overlay)
            self._overlay = overlay
            self._agent.keys_by_order = config_store.by_order(overlay.keys)
            self._agent.config_version = overlay.version
            self._agent.reconfigure(new)
            return results

    async def reset_config(self) -> str:
        async with self._lock:
            overlay = config_store.ConfigOverlay(self._overlay.version + 1, {})
            await asyncio.to_thread(config_store.save, self._file, overlay)
            self._overlay = overlay
            self._agent.keys_by_order = set()
            self._agent.config_version = overlay.version
            self._agent.reconfigure(self._base)
            return f"Settings reset to defaults (config version {overlay.version})."

    def reported_config(self) -> dict[str, Any]:
        return config_store.reported(self._agent.config, self._overlay.version)

    def actuated(self, actuator: str, level: int) -> None:
        t = time.time()
        reading: StateInput
        if actuator == "relay":
            reading = RelayStatus(t, fuel_cut=bool(level))
        elif actuator == "door_lock":
            reading = SignalReading(t, Signal.DOORS_LOCKED, float(level), "actuator")
        else:
            return
        events = self._agent.engine.step(reading)
        if events:
            self._agent.publish(events)

    async def set_geofences(self, fences: GeofenceSet) -> None:
        self._agent.engine.update_geofences(fences)

    async def demand(self, order_ulid: str, camera: CameraId, t0: float,
                     t1: float | None) -> str:
        recorder = self._agent.recorder
        if recorder is None:
            raise AgentError("no cameras: driver monitoring is not running on this device")
        ulid = new_ulid(int(t0 * 1000))  # the event's own; the order is its OriginalUlid twin
        if t1 is None:
            evidence = await recorder.demand_image(ulid, camera, t0)
            kind, what = VisionEventType.DEMAND_IMAGE, "Image"
        else:
            evidence = await recorder.demand_video(ulid, camera, t0, t1)
            kind, what = VisionEventType.DEMAND_VIDEO, f"Video of {t1 - t0:.0f} s"
        engine = self._agent.engine
        engine.state.advance(time.time())
        event = Event(timestamp_ms=int(t0 * 1000), context=engine.state.context(),
                      detail=VisionDetail(kind, vision_timestamp_s=int(t0)),
                      files=evidence.files, ulid=ulid)
        await self._publisher().put(event, evidence.attachments)
        return f"{what} from {camera.label}: Success! {len(evidence.attachments)} file(s)."

    def _publisher(self) -> Any:
        publisher = self._agent.publisher
        if publisher is None:
            raise AgentError("the agent is not running")
        return publisher
