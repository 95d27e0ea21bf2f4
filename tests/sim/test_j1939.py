"""Rendered J1939 frames decode, with the CAN source's decoder, to the simulated truth."""

from __future__ import annotations

import pytest

from agent.sim import Scenario, simulate
from agent.sim.j1939 import FrameRenderer, slcan_line
from agent.sources.can.decoder import J1939Decoder
from agent.sources.readings import Signal

SC = Scenario.model_validate({
    "duration_s": 30, "route": [(43.2389, 76.8897), (43.26, 76.8897)],
    "vehicle": {"odometer_km": 120345.5, "fuel_pct": 62.0},
    "plan": [{"t": 1, "ignition": True}, {"t": 2, "speed_kmh": 80}],
})  # fmt: skip


def test_frames_decode_to_the_truth_within_their_resolution() -> None:
    r, dec = FrameRenderer(), J1939Decoder.from_dbc()
    tr = next(s for s in simulate(SC, dt=0.1) if s.t == 20.0)
    got = {x.signal: x.value for cid, d in r.fast(tr) + r.slow(tr)
           for x in dec.decode(cid, d, 0.0, True)}  # fmt: skip
    assert got[Signal.WHEEL_SPEED_KMH] == pytest.approx(tr.speed_kmh, abs=1 / 256)
    assert got[Signal.ENGINE_RPM] == pytest.approx(tr.rpm, abs=0.125)
    assert got[Signal.FUEL_LEVEL_PCT] == pytest.approx(tr.fuel_pct, abs=0.4)
    assert got[Signal.TOTAL_DISTANCE_M] == pytest.approx(tr.odometer_m, abs=5)  # VDHR 5 m
    assert got[Signal.VEHICLE_BATTERY_V] == 14.0


def test_the_gateway_is_silent_with_the_ignition_off_and_pads_with_ones() -> None:
    r = FrameRenderer()
    first = next(iter(simulate(SC, dt=0.1)))
    assert not first.ignition
    assert r.fast(first) == r.slow(first) == []
    tr = next(s for s in simulate(SC, dt=0.1) if s.t == 20.0)
    cid, data = r.fast(tr)[0]
    assert cid == 0x18FEF100  # CCVS1 from the engine ECU (source address 0)
    assert data[0] == 0xFF
    assert data[3:] == b"\xff" * 5
    assert slcan_line(cid, data).startswith(b"T18FEF1008FF")
