"""Run a scenario through the REAL sources over real ptys into the vehicle state and rules.

The simulator plays the scenario at ``speedup`` x onto a GNSS pty (NMEA), an SLCAN pty
(J1939 frames) and power-input files; the agent's ``GnssSerialSource``, ``CanSource`` and
``PowerSource`` read them exactly as they read hardware. Their readings carry wall-clock time;
the emit callback maps it to scenario time through the same :class:`ScaledClock` the player
runs on (what a source with an accelerated clock would stamp), and a tick task calls
``engine.tick`` every scenario second.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.events import Event, HardwareDetail, TelemetryDetail, TelemetryEventType
from agent.rules import RuleThresholds, TelemetryEngine
from agent.sim import ScaledClock, Scenario, ScenarioPlayer
from agent.sim.pure import MOTION_STALL_S
from agent.sources.can.source import CanSource
from agent.sources.gnss.source import GnssSerialSource
from agent.sources.modem import ModemSource
from agent.sources.motion.source import MotionSource
from agent.sources.obd.source import ObdSource
from agent.sources.power import PowerSettings, PowerSource
from agent.sources.readings import Reading, Source
from agent.sources.settings import CanSettings, ModemSettings, MotionSettings, ObdSettings
from agent.vehicle import VehicleState

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Row:
    """One event as the tests compare it: scenario second, kind, key fields."""

    t: float
    kind: str
    key: str  # hardware Details, or the telemetry extra fields that identify it

    @staticmethod
    def of(e: Event, sc: Scenario) -> Row:
        d = e.detail
        t = round(e.timestamp_ms / 1000 - sc.start_epoch, 2)
        if isinstance(d, HardwareDetail):
            # "gnss: fault: <why>" → "gnss: fault" (the why names ptys and errno texts)
            parts = d.details.split(": ")
            key = ": ".join(parts[:2]) if parts[0] in ("gnss", "can", "obd", "motion") else d.details
            return Row(t, d.event_type.name, key)
        assert isinstance(d, TelemetryDetail)
        keys = {k: v for k, v in d.extra.items()
                if k in ("dtc", "geofenceId", "speedLimitKmh", "cause", "detectedBy")}  # fmt: skip
        return Row(t, d.event_type.name, str(keys) if keys else "")


def is_periodic(e: Event) -> bool:
    d = e.detail
    return isinstance(d, TelemetryDetail) and d.event_type == TelemetryEventType.PERIODIC_POSITION


async def run_live(
    sc: Scenario, workdir: Path, *, speedup: float = 25.0, thresholds: RuleThresholds | None = None,
    observe: Callable[[TelemetryEngine, Reading], None] | None = None,
) -> tuple[list[Event], ScenarioPlayer]:
    th = thresholds or RuleThresholds()
    clock = ScaledClock(sim_start=sc.start_epoch, speedup=speedup, wall_start=time.time() + 0.3)
    player = ScenarioPlayer(
        sc, clock, nmea_link=workdir / "gnss", power_dir=workdir / "power",
        slcan_link=workdir / "can" if sc.can else None,
        obd_link=workdir / "obd" if sc.obd else None,
        motion_dir=workdir / "motion" if sc.motion else None,
        modem_link=workdir / "modem" if sc.modem else None,
    )  # fmt: skip
    sim_s = 1.0 / speedup  # one scenario second in wall seconds
    sources: list[Source] = [
        GnssSerialSource(str(workdir / "gnss"), 9600, stall_timeout_s=1.0,
                         reconnect_min_s=0.01, reconnect_max_s=0.02),
        PowerSource(PowerSettings.from_dir(workdir / "power", poll_s=0.1 * sim_s,
                                           report_s=sim_s, case_path=workdir / "power" / "case")),
    ]  # fmt: skip
    if sc.motion:  # the buffered IIO path: records through the FIFO, the real decoder
        sources.append(MotionSource(MotionSettings(
            backend="iio_buffer", device=workdir / "motion", chardev=workdir / "motion" / "chardev",
            rate_hz=sc.motion.rate_hz, stall_timeout_s=MOTION_STALL_S * sim_s, reconnect_s=0.02,
            flush_interval_s=0.002)))  # fmt: skip
    if sc.can:
        sources.append(CanSource(CanSettings(
            backend="slcan", channel=str(workdir / "can"), open_delay_s=0.0, reconnect_s=0.02,
            flush_interval_s=0.002)))  # fmt: skip
    if sc.obd:
        sources.append(ObdSource(ObdSettings(
            backend="elm327", port=str(workdir / "obd"), poll_interval_s=sc.obd_poll_s * sim_s,
            dtc_interval_s=sc.obd_dtc_interval_s * sim_s, command_timeout_s=1.0,
            connect_timeout_s=2.0, reconnect_s=0.02)))  # fmt: skip
    if sc.modem:
        sources.append(ModemSource(ModemSettings(
            backend="at", port=str(workdir / "modem"), dialect="quectel",
            poll_interval_s=max(0.05, sc.modem_poll_s * sim_s), command_timeout_s=0.5,
            reconnect_s=0.02, iccid_file=workdir / "iccid")))  # fmt: skip
    state = VehicleState(th, odometer_m=sc.vehicle.odometer_km * 1000)
    engine = TelemetryEngine(th, state=state, host_boot_t=sc.start_epoch - 30.0)
    events: list[Event] = engine.boot(sc.start_epoch, f"simulated scenario {sc.name}")

    def emit(r: Reading) -> None:
        r = dataclasses.replace(r, t=clock.sim(r.t))
        events.extend(engine.step(r))
        if observe is not None:
            observe(engine, r)

    async def ticks() -> None:
        n = 1
        while True:
            await asyncio.sleep(max(0.0, clock.wall(sc.start_epoch + n) - time.time()))
            events.extend(engine.tick(sc.start_epoch + n))
            n += 1

    async def run_source(src: Source) -> None:
        if isinstance(src, MotionSource):  # its stall timeout is ~0.1 s wall: start with the data
            await asyncio.sleep(max(0.0, clock.wall(sc.start_epoch) - time.time()))
        await src.run(emit)

    tasks = [asyncio.create_task(run_source(s), name=s.name) for s in sources]
    tasks.append(asyncio.create_task(ticks(), name="ticks"))
    player.start()
    try:
        finished = await asyncio.to_thread(player.wait, sc.duration_s / speedup + 30)
        assert finished, "the scenario player did not finish"
        await asyncio.sleep(3 * sim_s)  # the last bytes on their way
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        player.stop()
    return events, player
