"""ObdSource against the third-party ``elm327-emulator`` (optional peer, never a dependency).

The emulator (PyPI ``elm327-emulator``, CC BY-NC-SA licence) is installed only where these
tests should run; without it they are skipped. It serves its ``car`` scenario on a pty.
Its quirks, seen with 4.0.0: PID A6 (odometer) is answered with service byte 0x61 instead of
0x41, and a multi-frame DTC answer is printed without the ELM327's length/frame-number
lines; so the test asks for two DTCs (one CAN frame) and expects the odometer to be refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.sources.obd.source import ObdSource
from tests.sources.obd.obd_harness import obd_settings, running, wait_until

elm_pkg = pytest.importorskip("elm")


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # The emulator configures logging from a YAML file on start; an incremental no-op config
    # keeps it from replacing the test run's logging set-up.
    cfg = tmp_path / "elm-log.yaml"
    cfg.write_text("version: 1\nincremental: true\ndisable_existing_loggers: false\n")
    monkeypatch.setenv("ELM_LOG_CFG", str(cfg))
    from elm import obd_message  # type: ignore[import-untyped]

    monkeypatch.setattr(obd_message, "DTC_STORED", ["0143", "0196"])
    emu = elm_pkg.Elm(batch_mode=True)
    with emu:
        end = time.monotonic() + 5
        while emu.get_pty() is None and time.monotonic() < end:
            time.sleep(0.05)
        emu.set_sorted_obd_msg("car")
        yield emu


async def test_source_polls_the_elm327_emulator(emulator: Any) -> None:
    source = ObdSource(obd_settings(emulator.get_pty(), command_timeout_s=2.0,
                                    connect_timeout_s=10.0))
    async with running(source) as out:
        await wait_until(lambda: len(out.dtcs()) == 1 and len(out.signals()) >= 10, within=20)
        diag = source.diagnostics()
    assert out.health()[0] is True
    assert diag["adapter"] == "ELM327 v1.5" and diag["protocol"] == "A6"
    supported = diag["supported_pids"]
    assert isinstance(supported, list)
    assert {"05", "0C", "0D", "2F", "31", "42", "A6"} <= set(supported)
    assert out.dtcs() == [("P0143", "P0196")]
    got = dict(out.signals())
    assert set(got) == {"wheel_speed_kmh", "engine_rpm", "fuel_level_pct",
                        "vehicle_battery_v", "coolant_temp_c"}
    assert 0 <= got["wheel_speed_kmh"] <= 255
    assert 0 <= got["engine_rpm"] <= 16383.75
    assert 0 <= got["fuel_level_pct"] <= 100
    assert 0 <= got["vehicle_battery_v"] <= 65.535
    assert -40 <= got["coolant_temp_c"] <= 215
    errors = diag["errors"]
    assert isinstance(errors, dict) and errors.get("bad_response", 0) >= 1  # 61 A6 ... refused
    assert "odometer" not in diag["last_values"]  # type: ignore[operator]
