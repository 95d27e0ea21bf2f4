"""PowerSource on real files (the sysfs layout): voltages, lines, change/refresh, health."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.sources.power import PowerSettings, PowerSource
from agent.sources.readings import Reading, Signal, SignalReading, SourceHealth


def write(d: Path, **values: str) -> None:
    for name, v in values.items():
        (d / name).write_text(v + "\n")


def test_iio_raw_value_times_scale_and_active_low_lines(tmp_path: Path) -> None:
    write(tmp_path, supply="3012", acc="0", door="1")
    s = PowerSettings(backend="sysfs", supply_path=tmp_path / "supply", supply_scale=0.00419,
                      acc_path=tmp_path / "acc", door_path=tmp_path / "door",
                      inverted=["acc"])  # fmt: skip
    values, error = PowerSource(s).read_once()
    assert error == ""
    assert dict(values) == {
        Signal.VEHICLE_BATTERY_V: 3012 * 0.00419, Signal.IGNITION: 1.0, Signal.DOOR_OPEN: 1.0,
    }  # fmt: skip


def test_emits_on_change_and_refreshes_every_report_s(tmp_path: Path) -> None:
    now = [100.0]
    src = PowerSource(PowerSettings.from_dir(tmp_path, report_s=1.0), clock=lambda: now[0])
    got: list[Reading] = []
    write(tmp_path, supply_v="12.60", backup_v="4.10", acc="1", door="0", locked="0", sos="0")
    for t, supply in [(100.0, "12.60"), (100.1, "12.62"), (100.2, "12.70"), (100.3, "12.70"),
                      (101.2, "12.70")]:  # fmt: skip
        now[0] = t
        write(tmp_path, supply_v=supply)
        src.poll(got.append, *src.read_once())
    supply_readings = [(r.t, r.value) for r in got
                       if isinstance(r, SignalReading) and r.signal is Signal.VEHICLE_BATTERY_V]  # fmt: skip
    # 12.62 is inside the 0.05 V deadband; 12.70 is a change; 101.2 is the 1 s refresh.
    assert supply_readings == [(100.0, 12.6), (100.2, 12.7), (101.2, 12.7)]
    assert isinstance(got[0], SourceHealth)
    assert got[0].ok is True
    sources = {r.signal: r.source for r in got if isinstance(r, SignalReading)}
    assert sources[Signal.VEHICLE_BATTERY_V] == "power"
    assert sources[Signal.IGNITION] == "gpio"


def test_a_missing_input_is_a_fault_until_it_returns(tmp_path: Path) -> None:
    src = PowerSource(PowerSettings.from_dir(tmp_path), clock=lambda: 5.0)
    got: list[Reading] = []
    write(tmp_path, supply_v="12.6", backup_v="4.1", acc="1", door="0", locked="0")  # no sos
    src.poll(got.append, *src.read_once())
    src.poll(got.append, *src.read_once())
    write(tmp_path, sos="0")
    src.poll(got.append, *src.read_once())
    health = [(r.ok, r.detail.split(":")[0]) for r in got if isinstance(r, SourceHealth)]
    assert health == [(False, str(tmp_path / "sos")), (True, "")]
    assert src.diagnostics()["read_errors"] == 2


async def test_run_polls_in_a_thread_until_cancelled(tmp_path: Path) -> None:
    write(tmp_path, supply_v="0.0", backup_v="4.0", acc="0", door="0", locked="0", sos="0")
    src = PowerSource(PowerSettings.from_dir(tmp_path, poll_s=0.01))
    got: list[Reading] = []
    task = asyncio.create_task(src.run(got.append))
    await asyncio.sleep(0.1)
    write(tmp_path, supply_v="13.9", acc="1")
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    seen = [(r.signal, r.value) for r in got if isinstance(r, SignalReading)]
    assert (Signal.VEHICLE_BATTERY_V, 13.9) in seen
    assert (Signal.IGNITION, 1.0) in seen
    assert src.polls >= 5


def test_a_voltage_outside_0_to_60_v_is_dropped_and_counted(tmp_path: Path) -> None:
    """A wrong scale or a floating ADC input: the reading never leaves the source."""
    src = PowerSource(PowerSettings.from_dir(tmp_path), clock=lambda: 5.0)
    got: list[Reading] = []
    write(tmp_path, supply_v="4095", backup_v="nan", acc="1", door="0", locked="0", sos="0")
    src.poll(got.append, *src.read_once())
    signals = {r.signal for r in got if isinstance(r, SignalReading)}
    assert Signal.VEHICLE_BATTERY_V not in signals
    assert Signal.BACKUP_BATTERY_V not in signals
    assert Signal.IGNITION in signals  # the other inputs still flow
    assert src.diagnostics()["implausible"] == {"backup_battery_v": 1, "vehicle_battery_v": 1}
