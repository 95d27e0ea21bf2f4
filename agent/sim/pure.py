"""A scenario straight into the vehicle state and rules, without serial I/O.

The truth is rendered to the same NMEA sentences and J1939 frames the player writes, and those
are decoded by the agent's own NMEA parser and J1939 decoder; the power inputs go through
``PowerSource.poll``. Only the ptys and the wall clock are left out, so the events of this
path are what the agent emits for the scenario, at ideal timestamps (``scripts/simulate
events``; the scenario tests compare it with the run over real ptys).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

from agent.events import Event
from agent.rules import RuleThresholds, TelemetryEngine
from agent.sim.elm327 import Elm327Responder
from agent.sim.j1939 import FrameRenderer
from agent.sim.modem import cellular_reading, scenario_cell
from agent.sim.motion import ACCEL_SCALE, CHANNELS, GYRO_SCALE, LAYOUT, MotionModel, encode
from agent.sim.nmea import epoch_sentences
from agent.sim.scenario import Scenario
from agent.sim.truth import Truth, simulate
from agent.sources.can.decoder import J1939Decoder
from agent.sources.gnss import NmeaParser
from agent.sources.motion import iio
from agent.sources.motion.source import BufferSpec, MotionSource
from agent.sources.obd.pids import PIDS_BY_NUMBER
from agent.sources.power import PowerSettings, PowerSource
from agent.sources.readings import Reading, Signal, SignalReading, SourceHealth, TroubleCodes
from agent.sources.settings import MotionSettings
from agent.vehicle.state import VehicleState

# Arrival latency after the moment a device sends (serial + parsing), seconds.
GNSS_LATENCY_S = 0.05
CAN_LATENCY_S = 0.002
POWER_POLL_S = 0.1
# The motion source reports a vanished sensor after its stall timeout; the scenario tests
# configure this many scenario seconds.
MOTION_STALL_S = 4.0
# PowerSource needs paths in its settings; the pure path hands it values instead of reading.
_NOWHERE = Path("/nonexistent-power-inputs")


def scenario_readings(sc: Scenario) -> Iterator[Reading]:
    """Every reading the sources would hand over, in time order (epoch seconds)."""
    dt = 1.0 / sc.can_hz
    gnss_every = max(1, round(1.0 / (sc.gnss_hz * dt)))
    slow_every = max(1, round(1.0 / dt))
    poll_every = max(1, round(POWER_POLL_S / dt))
    v = sc.vehicle
    frames = FrameRenderer()
    decoder = J1939Decoder.from_dbc()
    parser = NmeaParser()
    now = [sc.start_epoch]
    power = PowerSource(PowerSettings.from_dir(_NOWHERE), clock=lambda: now[0])
    obd_every = max(1, round(sc.obd_poll_s / dt))
    dtc_every = max(1, round(sc.obd_dtc_interval_s / dt))
    current: list[Truth | None] = [None]
    elm = Elm327Responder(lambda: current[0])
    up = {"gnss": True, "can": sc.can, "obd": sc.obd, "motion": sc.motion is not None,
          "modem": sc.modem}
    # The motion sensor: the simulator's records decoded by the motion source's own decoder.
    motion = MotionModel(sc) if sc.motion is not None else None
    imu = MotionSource(MotionSettings(backend="iio_buffer", device=_NOWHERE))
    imu_spec = BufferSpec(
        layout=LAYOUT,
        scales={c.name: (_scale(c.name), 0.0) for c in CHANNELS if c.name != iio.TIMESTAMP},
        gyro=True, has_ts=True, ts_offset=0.0,
    )  # fmt: skip
    modem_every = max(1, round(sc.modem_poll_s / dt))
    stored_iccid = ""
    pending: list[tuple[float, int, Reading]] = []
    seq = 0

    def push(r: Reading) -> None:
        nonlocal seq
        heapq.heappush(pending, (r.t, seq, r))
        seq += 1

    for src, present in up.items():
        if present:
            push(SourceHealth(sc.start_epoch, src, True, "simulated"))
    for i, tr in enumerate(simulate(sc, dt)):
        current[0] = tr
        epoch = sc.start_epoch + tr.t
        while pending and pending[0][0] <= epoch:
            yield heapq.heappop(pending)[2]
        for src, was in list(up.items()):
            if (src == "can" and not sc.can) or (src == "obd" and not sc.obd) or src == "modem":
                continue
            if src == "motion" and motion is None:
                continue
            plugged = src not in tr.unplugged
            if plugged != was:
                up[src] = plugged
                at = epoch + MOTION_STALL_S if src == "motion" and not plugged else epoch
                push(SourceHealth(at, src, plugged, "simulated unplug" if not plugged else ""))
                if src == "gnss":
                    parser = NmeaParser()
        if i % poll_every == 0:
            now[0] = epoch
            values = [
                (Signal.VEHICLE_BATTERY_V, tr.supply_v), (Signal.BACKUP_BATTERY_V, tr.backup_v),
                (Signal.IGNITION, float(tr.ignition)), (Signal.DOOR_OPEN, float(tr.door_open)),
                (Signal.DOORS_LOCKED, float(tr.locked)), (Signal.SOS, float(tr.sos)),
                (Signal.CASE_OPEN, float(tr.case_open)),
            ]  # fmt: skip
            power.poll(push, values, "")
        if motion is not None:
            block = [(sc.start_epoch + t, a, g) for t, a, g in motion.samples(tr.t, tr)]
            if block and up["motion"]:
                for r in imu.decode(encode(block), imu_spec, epoch):
                    push(r)
        if up["gnss"] and i % gnss_every == 0:
            data = b"".join(epoch_sentences(tr, epoch, satellites=v.satellites, hdop=v.hdop,
                                             altitude_m=v.altitude_m))  # fmt: skip
            for f in parser.feed(data, epoch + GNSS_LATENCY_S):
                push(f)
        if up["obd"] and elm.awake(tr):
            if i % obd_every == 0:  # one polling round, decoded by the OBD source's own PIDs
                for pid in (0x0D, 0x0C, 0x2F, 0x42, 0x05):
                    answer = elm.answer(bytes([0x01, pid]), tr)
                    p = PIDS_BY_NUMBER[pid]
                    if answer is not None and p.signal is not None:
                        value = p.decode(answer[2:])
                        push(SignalReading(epoch + CAN_LATENCY_S, p.signal, value, "obd"))
            if i % dtc_every == 0:
                push(TroubleCodes(epoch + CAN_LATENCY_S, tr.dtcs))
        if sc.modem and i % modem_every == 0:
            cell = scenario_cell(sc.cellular, tr.registered, tr.csq)
            push(cellular_reading(cell, epoch + CAN_LATENCY_S, stored_iccid))
            stored_iccid = cell.iccid
        if up["can"]:
            batch = frames.fast(tr) + (frames.slow(tr) if i % slow_every == 0 else [])
            for cid, payload in batch:
                for r in decoder.decode(cid, payload, epoch + CAN_LATENCY_S, True):
                    push(r)
    while pending:
        yield heapq.heappop(pending)[2]


def run_scenario(
    sc: Scenario,
    thresholds: RuleThresholds | None = None,
    *,
    odometer_m: float | None = None,
) -> list[Event]:
    """The events the agent emits for ``sc``: boot, then every reading and a tick each second."""
    th = thresholds or RuleThresholds()
    state = VehicleState(th, odometer_m=sc.vehicle.odometer_km * 1000 if odometer_m is None
                         else odometer_m)  # fmt: skip
    engine = TelemetryEngine(th, state=state, host_boot_t=sc.start_epoch - 30.0)
    events = engine.boot(sc.start_epoch, f"simulated scenario {sc.name}")
    next_tick = sc.start_epoch + 1.0
    end = sc.start_epoch + sc.duration_s
    for r in scenario_readings(sc):
        while next_tick <= r.t:
            events += engine.tick(next_tick)
            next_tick += 1.0
        events += engine.step(r)
    while next_tick <= end + 1e-9:
        events += engine.tick(next_tick)
        next_tick += 1.0
    return events


def _scale(channel: str) -> float:
    return ACCEL_SCALE if channel.startswith("in_accel") else GYRO_SCALE
