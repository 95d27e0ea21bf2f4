"""Composition root: builds the components from config and runs them under the supervisor.

Data flows one way: sources → vehicle state + rules (pure) → events → publisher → outbox →
uplink. Driver monitoring feeds the same publisher. Every long-running part is a
:class:`~agent.runtime.component.Component` in one registry; the supervisor restarts a crashed
or hung one alone and feeds systemd's watchdog only while the critical ones are alive. Health
*transitions* (not raw readings) reach the rules, which turn faults into hardware events.
Everything blocking (serial, SQLite, inference, encoding) runs in threads; this module only
wires and schedules.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from agent import sdnotify
from agent.clockwatch import ClockSample, clock_step
from agent.config import AgentConfig, load_config
from agent.errors import ModelError, StorageError
from agent.events import Event, HardwareEventType
from agent.health import HealthChange, HealthState
from agent.orders import config_store
from agent.rules.engine import TelemetryEngine
from agent.rules.hardware import FAULT_TYPES
from agent.runtime.component import Component, SourceComponent, TaskComponent
from agent.runtime.control import ControlServer
from agent.runtime.publisher import Publisher
from agent.runtime.status import StatusBuilder
from agent.runtime.supervisor import Supervisor
from agent.sources.factory import build_sources
from agent.sources.readings import Reading, Source, SourceHealth
from agent.sources.settings import VehicleSettings
from agent.store.api import Attachment, StorageFault
from agent.store.database import Database
from agent.store.outbox import Outbox
from agent.store.writer import OutboxWriter
from agent.uplink.uplink import Uplink
from agent.vehicle.odometer import JsonOdometerStore
from agent.vehicle.state import VehicleState

log = logging.getLogger("agent")

TICK_S = 1.0  # time-driven rules (periodic tracking, debounces) run this often
ODOMETER_SAVE_S = 30.0
STATE_MIN_INTERVAL_S = 5.0  # the retained vehicle state: rate limit on change
STATE_MAX_INTERVAL_S = 60.0  # ... and republished at least this often
DMS_FRAME_FRESH_S = 2.0  # a driver-camera frame younger than this is waiting to be processed
DMS_STALL_S = 5.0  # no pipeline result for this long while frames arrive: not keeping up


class Agent:
    """The running agent. ``await run(stop)`` until ``stop`` is set, then shuts down cleanly."""

    def __init__(self, config: AgentConfig, sources: Sequence[Source] | None = None) -> None:
        self.base_config = config  # defaults + file + environment, before config orders
        self._overlay_file = config.storage.data_dir / config_store.FILE_NAME
        overlay = config_store.load(self._overlay_file)
        self.config_version = overlay.version  # bumped by each accepted config order
        config = config_store.apply_overlay(config, overlay)
        self.config = config
        self.identity = config.device.identity()
        self.started_at = time.time()
        self._sources = list(sources) if sources is not None else None
        self._odometer = JsonOdometerStore(config.storage.data_dir / "odometer.json")
        try:
            odometer_m = self._odometer.load() or 0.0
        except StorageError as exc:
            log.error("%s; odometer restarts from 0", exc)
            odometer_m = 0.0
        self.engine = TelemetryEngine(
            config.rules,
            state=VehicleState(config.rules, odometer_m=odometer_m),
            host_boot_t=psutil.boot_time(),
        )
        self.outbox: Outbox | None = None
        self.writer: OutboxWriter | None = None
        self.uplink: Uplink | None = None
        self.publisher: Publisher | None = None
        self.supervisor = Supervisor((), watchdog_s=sdnotify.watchdog_interval_s())
        self.monitor: Any = None  # agent.dms.monitor.DriverMonitor when vision is enabled
        self.order_link: Any = None  # agent.orders.link.MqttLink when orders are enabled
        self.alarm_evidence: Any = None  # agent.vision.alarm_evidence.AlarmEvidence
        self._state_sent: dict[str, Any] = {}
        self._state_sent_at = -float("inf")
        self.cameras: dict[str, Any] = {}  # camera id -> agent.vision.camera.Camera
        self.producers: list[str] = []  # components stopped first at shutdown
        self._early: list[Event] = []
        self.keys_by_order: set[str] = set()  # dotted config keys changed by config orders
        self.database: Database | None = None
        self.recorder: Any = None  # agent.vision.evidence.EvidenceRecorder with cameras
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- producing events ------------------------------------------------------------------

    def publish(self, events: Sequence[Event], attachments: Sequence[Attachment] = ()) -> None:
        """Queue events for durable storage, in order, without blocking the caller."""
        if self.publisher is None:  # a storage fault while the outbox opens: kept for later
            self._early.extend(events)
            return
        self.publisher.publish(events, attachments)

    def _storage_fault(self, fault: StorageFault) -> None:
        """From the writer thread, once per episode (disk full): hand over to the loop."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.hardware, HardwareEventType.STORAGE_FAULT,
                                        f"{fault.kind}: {fault.detail}")

    def on_reading(self, reading: Reading) -> None:
        events = self.engine.step(reading)
        if events:
            self.publish_alarms(events)

    def publish_alarms(self, events: Sequence[Event]) -> None:
        """The rules' events: alarms that carry camera evidence wait for it, the rest go now."""
        evidence = self.alarm_evidence
        if evidence is None:
            self.publish(events)
            return
        now = [e for e in events if not evidence.wants(e)]
        for e in events:
            if evidence.wants(e):
                evidence.submit(e)
        if now:
            self.publish(now)

    def hardware(self, kind: HardwareEventType, details: str = "") -> None:
        self.publish([self.engine.hardware_event(time.time(), kind, details)])

    def on_health(self, change: HealthChange) -> None:
        """A component changed state: the rules decide which transitions are hardware events."""
        if change.component not in FAULT_TYPES:
            return
        up = change.health.state is not HealthState.DOWN
        was_up = change.previous is not HealthState.DOWN
        if change.previous is not None and up == was_up:
            return
        self.on_reading(SourceHealth(time.time(), change.component, up, change.health.detail))

    # --- the registry -----------------------------------------------------------------------

    def _register(self, component: Component, *, producer: bool = False) -> None:
        component.tracker.subscribe(self.on_health)
        self.supervisor.add(component)
        if producer:
            self.producers.append(component.name)

    def _build(self) -> None:
        cfg = self.config
        assert self.outbox is not None
        assert self.writer is not None
        self.uplink = Uplink.from_config(cfg, self.outbox)
        self.publisher = Publisher(self.writer, self.uplink.notify)
        self._register(self.publisher)
        self._register(_uplink_component(self.uplink))
        sources = self._sources if self._sources is not None else build_sources(cfg.vehicle)
        for src in sources:
            self._register(SourceComponent(src, self.on_reading, _rebuild(src.name, self)),
                           producer=True)
        rules = TaskComponent("rules", self._tick_loop, critical=True, heartbeat_s=10.0,
                              status=self._rules_status, reconfigure=self._reconfigure_rules)
        self._register(rules, producer=True)
        self._register(TaskComponent("odometer", self._odometer_loop), producer=True)
        for component in self._driver_monitoring():
            self._register(component, producer=True)
        for component in self._orders():
            self._register(component)
        status = StatusBuilder(self)
        self._register(ControlServer(cfg, status, self.supervisor))

    # --- run-time reconfiguration ----------------------------------------------------------

    def reconfigure(self, config: AgentConfig) -> list[str]:
        """Apply a new, validated settings snapshot (a config order): every component takes
        its part; those that cannot apply it live are restarted alone. Returns their names."""
        self.config = config
        restarted = []
        for name, component in self.supervisor.components.items():
            if component.reconfigure(config):
                self.supervisor.restart(name)
                restarted.append(name)
        return restarted

    def _reconfigure_rules(self, config: AgentConfig) -> bool:
        if config.rules != self.engine.thresholds:
            self.engine.update_thresholds(config.rules)
        return False

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        self._loop = asyncio.get_running_loop()
        self.database = await asyncio.to_thread(Database.from_settings, cfg.storage,
                                                on_storage_fault=self._storage_fault)
        self.outbox = await asyncio.to_thread(Outbox.from_settings, cfg.storage, self.identity,
                                              db=self.database)
        self.writer = OutboxWriter.from_settings(self.outbox, cfg.storage)
        self.writer.start()
        try:
            self._build()
            version = f"edge-agent {self.identity.firmware_version}"
            self.publish(self.engine.boot(time.time(), details=version))
            self.publish(self._early)
            for path in self.outbox.quarantined_at_open:
                self.hardware(HardwareEventType.STORAGE_FAULT,
                              f"corrupt database moved aside: {path}")
            if self.outbox.wal_set_aside is not None:
                self.hardware(HardwareEventType.STORAGE_FAULT,
                              f"corrupt write-ahead log moved aside: {self.outbox.wal_set_aside}")
            supervised = asyncio.create_task(self.supervisor.run(), name="supervisor")
            sdnotify.notify("READY=1")
            log.info(
                "agent running: device %s, cloud %s, components %s",
                self.identity.device_source, cfg.cloud.url, list(self.supervisor.components),
            )  # fmt: skip
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({supervised, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if supervised.done():  # the supervisor itself failed: a bug; stop cleanly anyway
                log.error("supervisor ended: %r", supervised.exception())
            sdnotify.notify("STOPPING=1")
            await self._stop_producing()
            supervised.cancel()
            await asyncio.gather(supervised, return_exceptions=True)
        finally:
            await self._shutdown()

    async def _stop_producing(self) -> None:
        """SIGTERM: stop producing, store the stopping event, deliver what can be delivered."""
        await self.supervisor.stop(self.producers)
        self.publish(self.engine.stopping(time.time()))
        assert self.publisher is not None
        assert self.uplink is not None
        await self.publisher.flush()
        self.uplink.notify()
        deadline = time.monotonic() + self.config.runtime.shutdown_deliver_s
        while time.monotonic() < deadline:
            stats = await asyncio.to_thread(self.outbox.stats) if self.outbox else None
            if stats is None or sum(stats.pending.values()) + stats.in_flight == 0:
                break
            await asyncio.sleep(0.1)

    def wake_uplink(self) -> None:
        if self.uplink is not None:
            self.uplink.notify()

    def _orders(self) -> list[Component]:
        """Orders over MQTT (docs/orders.md): the journal shares the outbox's database."""
        s = self.config.orders
        if not s.enabled:
            return []
        from agent.orders.executor import OrderExecutor, build_devices
        from agent.orders.journal import OrderJournal
        from agent.orders.link import MqttLink
        from agent.runtime.order_ports import AgentOrderPorts, JournalDatabase

        assert self.database is not None
        journal_db = JournalDatabase(self.database)
        ports = AgentOrderPorts(self, self.base_config, self._overlay_file, journal_db)
        self.keys_by_order = ports.keys_by_order()
        journal = OrderJournal(journal_db, max_queued=s.max_queued_statuses)
        data_dir = self.config.storage.data_dir
        executor = OrderExecutor(s, journal, ports, build_devices(s.devices),
                                 fences_file=data_dir / "geofences.json")
        link = MqttLink(s, self.identity.device_source, executor)
        executor.attach(link)
        self.order_link = link
        return [executor, link]

    def _driver_monitoring(self) -> list[Component]:
        """Cameras → face pipeline (own thread) → DMS policy → vision events with evidence."""
        v = self.config.vision
        if not v.enabled or not v.driver_camera:
            return []
        from agent.dms.monitor import DriverMonitor
        from agent.events import CameraId
        from agent.vision.camera import Camera, CameraOptions
        from agent.vision.evidence import EvidenceRecorder
        from agent.vision.pipeline import FacePipeline

        try:
            pipeline = FacePipeline.from_settings(v)
        except ModelError as exc:
            log.error("driver monitoring off: %s", exc)
            self.hardware(HardwareEventType.MODEL_FAULT, str(exc))
            return []
        options = CameraOptions(loop=v.camera_loop)
        cams = {CameraId.DRIVER: Camera(CameraId.DRIVER.label, v.driver_camera, options)}
        if v.road_camera:
            cams[CameraId.ROAD] = Camera(CameraId.ROAD.label, v.road_camera, options)
        rings = {}
        for which, cam in cams.items():
            rings[which] = EvidenceRecorder.make_ring(cam.name, v.evidence)
            cam.add_listener(rings[which].push)
            self.cameras[cam.name] = cam
        recorder = self.recorder = EvidenceRecorder(
            self.identity, rings, v.evidence, spool_dir=self.config.storage.data_dir / "spool"
        )
        assert self.publisher is not None, "driver monitoring starts after the publisher"
        self.monitor = DriverMonitor(
            cams[CameraId.DRIVER], pipeline, self.config.dms, self.publisher,
            self.engine.state.context, recorder=recorder, max_fps=v.max_fps,
            recognition=lambda: self.config.vision.automaticrecognition,
        )  # fmt: skip
        components: list[Component] = [SourceComponent(c, self.on_reading) for c in cams.values()]
        from agent.events import TelemetryEventType
        from agent.vision.alarm_evidence import AlarmEvidence

        types = [TelemetryEventType[name] for name in v.evidence.telemetry_alarms]
        if types:
            self.alarm_evidence = AlarmEvidence(recorder, self.publisher, types)
            components.append(self.alarm_evidence)
        monitor = self.monitor

        def reconfigure_dms(config: AgentConfig) -> bool:
            if config.dms != monitor.settings:
                monitor.update_settings(config.dms)
            return False

        driver_cam = cams[CameraId.DRIVER]

        async def dms_work() -> None:
            async def liveness() -> None:
                # Alive = the pipeline keeps up with the frames there are; a face pipeline
                # call that never returns while frames arrive leaves the heartbeat stale.
                while True:
                    await asyncio.sleep(1.0)
                    frame = driver_cam.latest()
                    idle = frame is None or time.time() - frame.t > DMS_FRAME_FRESH_S
                    done = monitor.last_processed
                    if idle or (done is not None and time.monotonic() - done < DMS_STALL_S):
                        await dms.heartbeat.checkpoint()

            live = asyncio.create_task(liveness(), name="dms-liveness")
            try:
                await monitor.run()
            finally:
                live.cancel()
                await asyncio.gather(live, return_exceptions=True)

        dms = TaskComponent("dms", dms_work, status=monitor.diagnostics,
                            reconfigure=reconfigure_dms, heartbeat_s=DMS_STALL_S * 3)
        return [*components, dms]

    async def _tick_loop(self) -> None:
        clock = ClockSample(time.time(), time.monotonic())
        beat = self.supervisor.components["rules"].heartbeat
        while True:
            await asyncio.sleep(TICK_S)
            await beat.checkpoint()
            now_clock = ClockSample(time.time(), time.monotonic())
            step = clock_step(clock, now_clock)
            clock = now_clock
            if step is not None:
                log.warning("wall clock stepped %+.1f s", step)
                self.hardware(HardwareEventType.CLOCK_JUMP, f"wall clock stepped {step:+.1f} s")
            events = self.engine.tick(time.time())
            if events:
                self.publish_alarms(events)
            self._retain_state(time.monotonic())

    def _retain_state(self, now: float) -> None:
        """The retained vehicle ``state`` document (CONTRACT §4): on change, at most every
        ``STATE_MIN_INTERVAL_S``, and at least every ``STATE_MAX_INTERVAL_S``."""
        if self.order_link is None:
            return
        doc = self.engine.state.state_document()
        content = {k: v for k, v in doc.items() if k != "timestamp"}
        since = now - self._state_sent_at
        if since >= STATE_MAX_INTERVAL_S or (since >= STATE_MIN_INTERVAL_S
                                             and content != self._state_sent):
            self.order_link.set_retained("state", doc)
            self._state_sent, self._state_sent_at = content, now

    def _rules_status(self) -> dict[str, Any]:
        s = self.engine.state
        return {"odometer_m": round(s.odometer_m, 1), "now": s.now}

    async def _odometer_loop(self) -> None:
        """Periodic save, its own component: a slow SD card never delays the rules tick."""
        while True:
            await asyncio.sleep(ODOMETER_SAVE_S)
            await asyncio.to_thread(self._save_odometer, self.engine.state.odometer_m)

    def _save_odometer(self, odometer_m: float) -> None:
        """Blocking (run in a thread). A failed save (disk full...) is logged, never fatal:
        the value stays in memory and the next period tries again."""
        try:
            self._odometer.save(odometer_m)
        except (OSError, ValueError) as exc:
            log.error("odometer not saved: %s", exc)

    async def _shutdown(self) -> None:
        if self.publisher is not None:
            try:
                await asyncio.wait_for(self.publisher.drain_now(), 10.0)
            except Exception:
                log.exception("events still queued at shutdown could not be stored")
        if self.uplink is not None:
            await self.uplink.aclose()
        if self.writer is not None:
            await self.writer.close()
        await asyncio.to_thread(self._save_odometer, self.engine.state.odometer_m)
        if self.outbox is not None:
            await asyncio.to_thread(self.outbox.close)
        if self.database is not None:
            await asyncio.to_thread(self.database.close)
        log.info("agent stopped")


def _uplink_component(uplink: Uplink) -> Component:
    """The uplink as a component: its backoff state is its health (degraded while the cloud
    cannot be reached; the outbox keeps everything meanwhile)."""

    async def work() -> None:
        async def follow() -> None:
            while True:
                d = uplink.diagnostics()
                if d["consecutive_failures"]:  # until a delivery succeeds again
                    component.tracker.degraded(f"cloud unreachable: {d['last_error']}")
                elif d["state"] in ("idle", "sending"):
                    component.tracker.ok(str(d["state"]))
                await asyncio.sleep(0.5)

        async with asyncio.TaskGroup() as tg:
            tg.create_task(follow())
            await uplink.run()

    component = TaskComponent("uplink", work, critical=True, heartbeat=uplink.heartbeat,
                              heartbeat_s=120.0, status=uplink.diagnostics,
                              reconfigure=lambda config: uplink.reconfigure(config.cloud))
    return component


def _rebuild(section: str, agent: Agent) -> Callable[[AgentConfig], Source | None]:
    """A source's reconfigure: a new one when its ``[vehicle.<section>]`` changed."""

    current = [getattr(agent.config.vehicle, section, None)]

    def rebuild(config: AgentConfig) -> Source | None:
        new = getattr(config.vehicle, section, None)
        if new is None or new == current[0]:
            return None
        current[0] = new
        built = build_sources(VehicleSettings.model_validate({section: new.model_dump()}))
        return built[0] if built else None

    return rebuild


async def _main(config: AgentConfig, duration: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    await Agent(config).run(stop)


def run_agent(
    config_path: Path | None, duration: float | None = None, log_level: str | None = None
) -> int:
    """Entry point of ``edge-agent run``; ``log_level`` (``--log-level``) beats ``[log] level``."""
    config = load_config(config_path)
    level = (log_level or config.log.level).upper()
    logging.getLogger().setLevel(level)
    if level != "DEBUG":
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request
    asyncio.run(_main(config, duration))
    return 0
