"""scripts/simulate: events, render (read back by the agent's diag tools) and run on ptys."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import serial

from agent.sim.cli import main
from tests.scenarios.harness import DATA

REPO = Path(__file__).resolve().parents[2]


def test_events_lists_the_scenarios_events(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", str(DATA / "faults.toml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    kinds = [ln.split()[3] for ln in lines if "PERIODIC" not in ln]
    assert kinds[:3] == ["AGENT_STARTED", "GNSS_FAULT", "GNSS_LOST"]
    assert kinds[-1] == "MOVING_IGNITION_OFF"


def test_events_json_is_one_v3_envelope_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "--json", str(DATA / "city_drive.toml")]) == 0
    envs = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert [e["sequenceNumber"] for e in envs] == list(range(1, len(envs) + 1))
    harsh = [e for e in envs if e["telemetryEvent"].get("telemetryEventType") == 8]
    assert len(harsh) == 1
    assert harsh[0]["telemetryEvent"]["alarmType"] == 24


def test_render_writes_streams_the_agents_diag_tools_decode(tmp_path: Path) -> None:
    nmea, slcan = tmp_path / "drive.nmea", tmp_path / "drive.slcan"
    assert main(["render", str(DATA / "city_drive.toml"), "--nmea", str(nmea),
                 "--slcan", str(slcan)]) == 0  # fmt: skip
    out = subprocess.run(
        [str(REPO / ".venv/bin/edge-agent"), "diag", "nmea", "--json", str(nmea)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    tpv = [json.loads(ln) for ln in out.stdout.splitlines()]
    assert len(tpv) > 280 * 2
    counts = dict(kv.split(" ") for kv in out.stderr.strip().removeprefix("nmea: ").split(", "))
    assert counts["sentences"] == counts["decoded"]  # every rendered sentence was valid
    assert slcan.read_bytes().count(b"\r") > 2500  # 10 Hz x 2 fast frames while ignition is on


def test_bad_scenario_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("duration_s = -1\nroute = [[0, 0]]\n")
    assert main(["events", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"simulate: {bad}: duration_s:")


def test_run_plays_onto_a_pty_at_the_requested_speed(tmp_path: Path) -> None:
    sc = tmp_path / "short.toml"
    sc.write_text('duration_s = 20\nroute = [[43.2, 76.9], [43.3, 76.9]]\n'
                  '[[plan]]\nt = 0\nignition = true\n')  # fmt: skip
    link = tmp_path / "gnss"
    proc = subprocess.Popen(
        [str(REPO / "scripts/simulate"), "run", str(sc), "--speedup", "10", "--delay", "0.5",
         "--nmea", str(link), "--power-dir", str(tmp_path / "power")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not link.exists():
            assert time.monotonic() < deadline, "no pty link appeared"
            time.sleep(0.05)
        t0 = time.monotonic()
        with serial.Serial(str(link), 9600, timeout=1.0) as ser:
            lines = [ser.readline() for _ in range(40)]
        took = time.monotonic() - t0
        assert sum(ln.startswith(b"$GPRMC") for ln in lines) >= 5
        assert took < 4.0  # ~8 epochs at 10x = under 1 s after the 0.5 s delay
        assert (tmp_path / "power" / "acc").read_text().strip() == "1"
        assert proc.wait(timeout=15) == 0
        assert "worst lag" in (proc.stdout.read() if proc.stdout else "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not link.exists()  # the pty went away with the simulator
