"""``edge-agent diag can`` on a capture file and live from an SLCAN adapter on a pty."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from agent.cli import main
from tests.sources.can.slcan_peer import SlcanPeer


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_diag_can_decodes_a_candump_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "truck.log"
    log.write_text(
        "(100.000000) can0 18FEF100#FF003200FFFFFFFF\n"
        "(100.010000) can0 0CF00417#FFFFFF401FFFFFFF\n"
        "(100.020000) can0 18FECA00#00FF00000000FFFF\n"  # DM1: not in the DBC
        "(100.030000) can0 18FEFC00#FFFFFFFFFFFFFFFF\n"  # fuel not available
    )
    assert main(["diag", "can", str(log), "--unknown"]) == 0
    out = json_lines(capsys.readouterr().out)
    assert out[0] == {"t": 100.0, "id": "18FEF100", "pgn": 65265, "sa": 0, "message": "CCVS1",
                      "values": {"WheelBasedVehicleSpeed": 50.0}, "skipped": {},
                      "readings": {"wheel_speed_kmh": 50.0}}
    assert out[1]["message"] == "EEC1" and out[1]["sa"] == 0x17
    assert out[1]["readings"] == {"engine_rpm": 1000.0}
    assert out[2] == {"t": 100.02, "id": "18FECA00", "pgn": 65226, "sa": 0, "message": None}
    assert out[3]["skipped"] == {"FuelLevel1": "not available"} and out[3]["readings"] == {}
    summary = out[4]["summary"]
    assert isinstance(summary, dict)
    assert summary["decoded_frames"] == 3
    assert summary["frames"] == 4 and summary["unknown_pgn"] == 1
    assert summary["signals"]["DD1.FuelLevel1"]["not_available"] == 1


def test_diag_can_with_nothing_decodable_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "car.log"
    log.write_text("(1.0) can0 123#0102\n")
    assert main(["diag", "can", str(log)]) == 1
    assert json_lines(capsys.readouterr().out)[-1]["summary"]["not_extended"] == 1  # type: ignore[index]


def test_diag_can_live_from_an_slcan_adapter(
    peer: SlcanPeer, capsys: pytest.CaptureFixture[str],
) -> None:
    def play() -> None:
        assert peer.is_open.wait(5)
        peer.send(0x18FEF700, bytes.fromhex("FFFFFFFF0401FFFF"))  # 260*0.05 = 13 V

    player = threading.Thread(target=play)
    player.start()
    code = main(["diag", "can", "--port", peer.port, "--duration", "1.0"])
    player.join()
    out = json_lines(capsys.readouterr().out)
    assert code == 0
    assert out[0]["message"] == "VEP1"
    assert out[0]["readings"] == {"vehicle_battery_v": pytest.approx(13.0)}
    assert "L" in peer.commands  # the technician's tool is passive on the bus too
