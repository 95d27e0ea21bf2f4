"""Composition root: builds the components from config and runs them under one TaskGroup.

Data flows one way: sources → vehicle state + rules (pure) → events → outbox → uplink. The
driver-monitoring loop feeds the same outbox. Everything blocking (serial, SQLite, inference,
encoding) runs in threads; this module only wires and schedules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import psutil

from agent import sdnotify
from agent.clockwatch import ClockSample, clock_step
from agent.config import AgentConfig, load_config
from agent.errors import ModelError, StorageError
from agent.events import Event, HardwareEventType
from agent.rules.engine import TelemetryEngine
from agent.sources.factory import build_sources
from agent.sources.readings import Reading, Source, SourceHealth
from agent.store.api import Attachment
from agent.store.outbox import Outbox
from agent.store.writer import OutboxWriter
from agent.uplink.sink import NotifyingSink
from agent.uplink.uplink import Uplink
from agent.vehicle.odometer import JsonOdometerStore
from agent.vehicle.state import VehicleState

log = logging.getLogger("agent")

TICK_S = 1.0  # time-driven rules (periodic tracking, debounces) run this often
ODOMETER_SAVE_S = 30.0


class Agent:
    """The running agent. ``await run(stop)`` until ``stop`` is set, then shuts down cleanly."""

    def __init__(self, config: AgentConfig, sources: Sequence[Source] | None = None) -> None:
        self.config = config
        self.identity = config.device.identity()
        self._sources = list(sources) if sources is not None else None
        self._pending: set[asyncio.Task[Any]] = set()
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
        self._faulted_cameras: set[str] = set()
        self.monitor: Any = None  # agent.dms.monitor.DriverMonitor when vision is enabled

    # --- producing events ------------------------------------------------------------------

    def publish(self, events: Sequence[Event], attachments: Sequence[Attachment] = ()) -> None:
        """Queue events for durable storage, in order, without blocking the caller."""
        writer, uplink = self.writer, self.uplink
        assert writer is not None, "publish() before run()"
        assert uplink is not None, "publish() before run()"
        for i, event in enumerate(events):
            task = asyncio.create_task(writer.put(event, attachments if i == 0 else ()))
            self._pending.add(task)
            task.add_done_callback(self._put_done)
            task.add_done_callback(lambda _t: uplink.notify())

    def _put_done(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The outbox raised (disk full...): the event is lost to the cloud; say so loudly.
            log.error("event not stored: %s", task.exception())

    def on_reading(self, reading: Reading) -> None:
        if isinstance(reading, SourceHealth) and reading.source == "camera":
            # Vehicle rules own GNSS/CAN/OBD faults; cameras belong to driver monitoring.
            # A camera coming up at start is no news; coming back after a fault is.
            cam = reading.detail.split(":", 1)[0]
            if not reading.ok or cam in self._faulted_cameras:
                state = "restored" if reading.ok else "fault"
                self.hardware(HardwareEventType.CAMERA_FAULT, f"camera: {state}: {reading.detail}")
                (self._faulted_cameras.discard if reading.ok else self._faulted_cameras.add)(cam)
            return
        events = self.engine.step(reading)
        if events:
            self.publish(events)

    def hardware(self, kind: HardwareEventType, details: str = "") -> None:
        self.publish([self.engine.hardware_event(time.time(), kind, details)])

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        self.outbox = await asyncio.to_thread(Outbox.from_settings, cfg.storage, self.identity)
        self.writer = OutboxWriter.from_settings(self.outbox, cfg.storage)
        self.writer.start()
        self.uplink = Uplink.from_config(cfg, self.outbox)
        sources = self._sources if self._sources is not None else build_sources(cfg.vehicle)

        version = f"edge-agent {self.identity.firmware_version}"
        self.publish(self.engine.boot(time.time(), details=version))
        for path in self.outbox.quarantined_at_open:
            self.hardware(HardwareEventType.STORAGE_FAULT, f"corrupt database moved aside: {path}")

        try:
            async with asyncio.TaskGroup() as tg:
                workers = [tg.create_task(self.uplink.run(), name="uplink")]
                workers += [
                    tg.create_task(src.run(self.on_reading), name=f"source:{src.name}")
                    for src in sources
                ]
                workers.append(tg.create_task(self._tick_loop(), name="tick"))
                workers += [
                    tg.create_task(coro, name=name) for name, coro in self._driver_monitoring()
                ]
                sdnotify.notify("READY=1")
                log.info(
                    "agent running: device %s, cloud %s, sources %s",
                    self.identity.device_source, cfg.cloud.url, [s.name for s in sources] or "none",
                )  # fmt: skip
                await stop.wait()
                sdnotify.notify("STOPPING=1")
                self.publish(
                    [self.engine.hardware_event(time.time(), HardwareEventType.AGENT_STOPPING)]
                )
                for w in workers:
                    if w.get_name() != "uplink":
                        w.cancel()
                await self._flush()
                # Give the uplink a moment to deliver the last events; the outbox keeps the rest.
                await asyncio.sleep(0.5)
                for w in workers:
                    w.cancel()
        finally:
            await self._shutdown()

    def _driver_monitoring(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        """Cameras → face pipeline (own thread) → DMS policy → vision events with evidence."""
        v = self.config.vision
        if not v.enabled or not v.driver_camera:
            return []
        from agent.dms.monitor import DriverMonitor
        from agent.events import Camera as Cam
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
        cams = {Cam.DRIVER: Camera("cam1", v.driver_camera, options)}
        if v.road_camera:
            cams[Cam.ROAD] = Camera("cam0", v.road_camera, options)
        rings = {}
        for which, cam in cams.items():
            rings[which] = EvidenceRecorder.make_ring(cam.name, v.evidence)
            cam.add_listener(rings[which].push)
        recorder = EvidenceRecorder(
            self.identity, rings, v.evidence, spool_dir=self.config.storage.data_dir / "spool"
        )
        assert self.writer is not None, "driver monitoring starts after the outbox"
        sink = NotifyingSink(self.writer, self._notify_uplink)
        self.monitor = DriverMonitor(
            cams[Cam.DRIVER], pipeline, self.config.dms, sink, self.engine.state.context,
            recorder=recorder, max_fps=v.max_fps,
        )  # fmt: skip
        tasks = [(f"camera:{cam.camera}", cam.run(self.on_reading)) for cam in cams.values()]
        return [*tasks, ("dms", self.monitor.run())]

    def _notify_uplink(self) -> None:
        if self.uplink is not None:
            self.uplink.notify()

    async def _tick_loop(self) -> None:
        watchdog = sdnotify.watchdog_interval_s()
        last_save = last_dog = time.monotonic()
        clock = ClockSample(time.time(), time.monotonic())
        while True:
            await asyncio.sleep(TICK_S)
            now_clock = ClockSample(time.time(), time.monotonic())
            step = clock_step(clock, now_clock)
            clock = now_clock
            if step is not None:
                log.warning("wall clock stepped %+.1f s", step)
                self.hardware(HardwareEventType.CLOCK_JUMP, f"wall clock stepped {step:+.1f} s")
            events = self.engine.tick(time.time())
            if events:
                self.publish(events)
            now = time.monotonic()
            if now - last_save >= ODOMETER_SAVE_S:
                last_save = now
                await asyncio.to_thread(self._save_odometer, self.engine.state.odometer_m)
            if watchdog is not None and now - last_dog >= watchdog:
                last_dog = now
                sdnotify.notify("WATCHDOG=1")

    def _save_odometer(self, odometer_m: float) -> None:
        """Blocking (run in a thread). A failed save (disk full...) is logged, never fatal:
        the value stays in memory and the next period tries again."""
        try:
            self._odometer.save(odometer_m)
        except (OSError, ValueError) as exc:
            log.error("odometer not saved: %s", exc)

    async def _flush(self) -> None:
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _shutdown(self) -> None:
        with contextlib.suppress(Exception):
            await self._flush()
        if self.writer is not None:
            await self.writer.close()
        await asyncio.to_thread(self._save_odometer, self.engine.state.odometer_m)
        if self.outbox is not None:
            await asyncio.to_thread(self.outbox.close)
        log.info("agent stopped")


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
