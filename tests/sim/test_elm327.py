"""The simulator's ELM327, driven by the agent's own ELM327 client over a real pty."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import serial

from agent.sim import Scenario, simulate
from agent.sim.elm327 import Elm327Responder, can_frames, dtc_bytes
from agent.sim.pty import PtyPort
from agent.sources.obd.elm327 import Elm327, ElmError
from agent.sources.obd.pids import PIDS_BY_NUMBER
from agent.sources.obd.session import ObdSession

SC = Scenario.model_validate({
    "duration_s": 30, "route": [(43.2389, 76.8897), (43.26, 76.8897)],
    "vehicle": {"fuel_pct": 62.0},
    "plan": [{"t": 0, "ignition": True}, {"t": 1, "speed_kmh": 72}],
})  # fmt: skip


def test_dtc_encoding_and_iso_tp_frames() -> None:
    assert dtc_bytes("P0301") == b"\x03\x01"
    assert dtc_bytes("U0158") == b"\xc1\x58"
    assert can_frames(b"\x43\x01\x03\x01") == ["43010301"]
    assert can_frames(bytes.fromhex("43050133017141584158")) == [
        "00A", "0:430501330171", "1:41584158000000",
    ]  # fmt: skip


def test_the_agents_client_initialises_discovers_and_reads_the_truth(tmp_path: Path) -> None:
    tr = next(s for s in simulate(SC, dt=0.1) if s.t == 20.0)
    current = [dataclasses.replace(tr, dtcs=("P0301", "P0420", "C0158", "U0100"))]
    port = PtyPort(tmp_path / "obd", Elm327Responder(lambda: current[0]))
    try:
        with serial.Serial(str(tmp_path / "obd"), 38400, timeout=0.1) as ser:
            session = ObdSession(Elm327(ser, timeout_s=2.0))
            info = session.connect()
            assert info.version == "ELM327 v1.5"
            assert info.protocol == "A6"
            assert info.supported == {0x05, 0x0C, 0x0D, 0x20, 0x2F, 0x40, 0x42}
            speed = session.read_pid(PIDS_BY_NUMBER[0x0D])
            rpm = session.read_pid(PIDS_BY_NUMBER[0x0C])
            fuel = session.read_pid(PIDS_BY_NUMBER[0x2F])
            volts = session.read_pid(PIDS_BY_NUMBER[0x42])
            assert speed == round(tr.speed_kmh)
            assert rpm == pytest.approx(tr.rpm, abs=0.25)
            assert fuel == pytest.approx(tr.fuel_pct, abs=100 / 255)
            assert volts == 14.1
            assert session.read_dtcs() == ("P0301", "P0420", "C0158", "U0100")  # multi-frame
            current[0] = dataclasses.replace(tr, ignition=False)
            with pytest.raises(ElmError):
                session.read_pid(PIDS_BY_NUMBER[0x0D])  # the ECU sleeps: NO DATA
        init = [c for c in port.commands if c][:6]  # the client resyncs with a bare CR first
        assert init == [b"ATZ", b"ATE0", b"ATL0", b"ATS0", b"ATH0", b"ATSP0"]
    finally:
        port.close()
