"""``edge-agent diag obd`` against the ELM327 peer on a pty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.sources.serialport import open_command_port
from tests.sources.obd.elm_peer import ElmPeer
from tests.sources.obd.obd_harness import obd_settings


def test_diag_obd_reports_adapter_pids_readings_and_dtcs(
    elm: ElmPeer, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["diag", "obd", "--port", elm.port, "--timeout", "0.5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["connected"] is True
    assert (report["adapter"], report["protocol"], report["can"]) == ("ELM327 v1.5", "A6", True)
    assert {"0C", "0D", "2F", "A6"} <= set(report["supported_pids"])
    assert report["readings"]["vehicle_speed"] == {
        "pid": "010D", "value": 60.0, "unit": "km/h", "signal": "wheel_speed_kmh"}
    assert report["readings"]["odometer"]["value"] == 100_000_000.0
    assert report["readings"]["distance_since_codes_cleared"] == {
        "pid": "0131", "value": 50.0, "unit": "km", "signal": None}
    assert set(report["unanswered"]) == {"hybrid_battery_remaining"}
    assert report["dtcs"] == ["P0133", "P0171", "C0158", "U0158", "B1234"]
    assert report["errors"] == {"no_data": 1}


def test_diag_obd_with_the_vehicle_off_exits_1(
    elm: ElmPeer, capsys: pytest.CaptureFixture[str],
) -> None:
    elm.vehicle_off = True
    assert main(["diag", "obd", "--port", elm.port, "--timeout", "0.5"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["connected"] is False
    assert report["adapter"] == "ELM327 v1.5"  # the adapter answered, the vehicle did not
    assert "UNABLE TO CONNECT" in report["error"]


def test_diag_obd_without_adapter_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["diag", "obd", "--port", str(tmp_path / "none")]) == 1
    assert "cannot open" in capsys.readouterr().err


def test_diag_obd_refuses_a_port_the_daemon_holds(
    elm: ElmPeer, capsys: pytest.CaptureFixture[str],
) -> None:
    held = open_command_port(elm.port, obd_settings(elm.port).baudrate)  # as ObdSource does
    try:
        assert main(["diag", "obd", "--port", elm.port]) == 1
    finally:
        held.close()
    assert "cannot open" in capsys.readouterr().err
    assert elm.commands == []  # nothing reached the adapter
