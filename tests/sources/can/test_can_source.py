"""CanSource end to end over a real pty: python-can slcan set-up, frames, faults, replug."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.sources.can.source import CanSource
from agent.sources.readings import SignalReading, SourceHealth
from agent.sources.settings import CanSettings
from tests.sources.can.can_harness import can_settings, running, wait_until
from tests.sources.can.slcan_peer import SlcanPeer


async def test_adapter_is_set_to_the_bitrate_and_opened_listen_only(peer: SlcanPeer) -> None:
    source = CanSource(can_settings(peer.port, bitrate=500_000))
    async with running(source) as out:
        await wait_until(lambda: peer.is_open.is_set() and out.health() == [True])
    cmds = [c for c in peer.commands if c]
    assert cmds[:2] == ["C", "S6"]  # close, 500 kbit/s
    assert "L" in cmds
    assert "O" not in cmds  # never active on a vehicle bus unless asked


async def test_active_mode_opens_with_O_when_listen_only_is_off(peer: SlcanPeer) -> None:
    source = CanSource(can_settings(peer.port, listen_only=False))
    async with running(source):
        await wait_until(peer.is_open.is_set)
    assert "O" in peer.commands and "L" not in peer.commands


async def test_slcan_frames_become_exact_readings(peer: SlcanPeer) -> None:
    source = CanSource(can_settings(peer.port))
    async with running(source) as out:
        await wait_until(peer.is_open.is_set)
        before = time.time()
        peer.send(0x18FEF100, bytes.fromhex("FF003200FFFFFFFF"))  # 50 km/h
        peer.send(0x0CF00400, bytes.fromhex("FFFFFF401FFFFFFF"))  # 1000 rpm
        peer.send(0x18FEFC17, bytes.fromhex("FFC8FFFFFFFFFFFF"))  # 80 %, SA 0x17
        peer.send(0x18FEC1EE, bytes.fromhex("40420F00FFFFFFFF"))  # 1000000*5 m
        peer.send(0x18FEE500, bytes.fromhex("10270000FFFFFFFF"))  # 500 h
        peer.send(0x18FEF700, bytes.fromhex("FFFFFFFF1801FFFF"))  # 280*0.05 = 14 V
        peer.send(0x18FEEE00, bytes.fromhex("5AFFFFFFFFFFFFFF"))  # 90-40 = 50 degC
        await wait_until(lambda: len(out.signals()) == 7)
        after = time.time()
    assert out.signals() == [
        ("wheel_speed_kmh", 50.0),
        ("engine_rpm", 1000.0),
        ("fuel_level_pct", pytest.approx(80.0)),
        ("total_distance_m", 5_000_000.0),
        ("engine_hours_h", pytest.approx(500.0)),
        ("vehicle_battery_v", pytest.approx(14.0)),
        ("coolant_temp_c", 50.0),
    ]
    sig = [r for r in out if isinstance(r, SignalReading)]
    assert all(r.source == "can" and before <= r.t <= after for r in sig)
    assert [r.t for r in sig] == sorted(r.t for r in sig)


async def test_not_available_values_are_skipped_and_counted_on_the_live_path(
    peer: SlcanPeer,
) -> None:
    source = CanSource(can_settings(peer.port))
    async with running(source) as out:
        await wait_until(peer.is_open.is_set)
        peer.send(0x18FEF100, bytes.fromhex("FFFFFFFFFFFFFFFF"))  # not available
        peer.send(0x18FEF100, bytes.fromhex("FF00FEFFFFFFFFFF"))  # error
        peer.send(0x18FEFC00, bytes.fromhex("FFFDFFFFFFFFFFFF"))  # 101.2 %: out of range
        peer.send(0x18FEF100, bytes.fromhex("FF001EFFFFFFFFFF"))  # 30 km/h
        await wait_until(lambda: len(out.signals()) == 1)
        diag = source.diagnostics()
    assert out.signals() == [("wheel_speed_kmh", 30.0)]
    signals = diag["signals"]
    assert isinstance(signals, dict)
    assert signals["CCVS1.WheelBasedVehicleSpeed"]["not_available"] == 1
    assert signals["CCVS1.WheelBasedVehicleSpeed"]["error"] == 1
    assert signals["DD1.FuelLevel1"]["out_of_range"] == 1
    assert diag["frames"] == 4


async def test_split_lines_noise_and_standard_frames_do_not_break_the_stream(
    peer: SlcanPeer,
) -> None:
    source = CanSource(can_settings(peer.port))
    async with running(source) as out:
        await wait_until(peer.is_open.is_set)
        line = b"T18FEF1008FF003C00FFFFFFFF\r"  # 60 km/h, written in two pieces
        peer.write(line[:9])
        await asyncio.sleep(0.05)
        peer.write(line[9:])
        peer.write(b"TZZZZZZZZ8GG\r")  # noise: unparsable
        peer.write(b"t1238" + b"00" * 8 + b"\r")  # an 11-bit frame: not J1939
        peer.write(b"\a")  # a NACK from the adapter
        peer.write(b"X" * 300 + b"\r")  # a line far too long for SLCAN: dropped
        peer.write(b"Y" * 300)  # a run of bytes without CR: dropped before the CR comes
        await asyncio.sleep(0.05)
        peer.write(b"\r")
        peer.send(0x0CF00400, bytes.fromhex("FFFFFF803EFFFFFF"))  # 2000 rpm
        await wait_until(lambda: len(out.signals()) == 2)
        diag = source.diagnostics()
    assert out.signals() == [("wheel_speed_kmh", 60.0), ("engine_rpm", 2000.0)]
    assert diag["malformed_lines"] == 3
    assert diag["not_extended"] == 1
    assert diag["adapter_nacks"] == 1
    assert out.health() == [True]


async def test_unplug_reports_fault_and_replug_restores_readings(tmp_path: Path) -> None:
    link = tmp_path / "ttyCAN"
    first = SlcanPeer(link)
    source = CanSource(can_settings(str(link)))
    async with running(source) as out:
        await wait_until(first.is_open.is_set)
        first.send(0x18FEF100, bytes.fromhex("FF000AFFFFFFFFFF"))  # 10 km/h
        await wait_until(lambda: len(out.signals()) == 1)

        first.unplug()  # the USB adapter is pulled: EIO on the agent's side, link gone
        await wait_until(lambda: out.health() == [True, False])
        fault = [r for r in out if isinstance(r, SourceHealth)][-1]
        assert fault.source == "can" and not fault.ok and "lost" in fault.detail
        await wait_until(lambda: int(source.diagnostics()["open_failures"]) >= 2)  # type: ignore[call-overload]

        second = SlcanPeer(link)  # plugged back: a new tty behind the same by-id link
        try:
            await wait_until(lambda: out.health() == [True, False, True])
            await wait_until(second.is_open.is_set)
            second.send(0x18FEF100, bytes.fromhex("FF0014FFFFFFFFFF"))  # 20 km/h
            await wait_until(lambda: len(out.signals()) == 2)
            diag = source.diagnostics()
        finally:
            second.unplug()
    assert out.signals() == [("wheel_speed_kmh", 10.0), ("wheel_speed_kmh", 20.0)]
    assert diag["disconnects"] == 1 and diag["opens"] == 2 and diag["up"] is True


async def test_adapter_absent_at_start_is_a_fault_until_it_appears(tmp_path: Path) -> None:
    link = tmp_path / "ttyCAN"
    source = CanSource(can_settings(str(link)))
    async with running(source) as out:
        await wait_until(lambda: out.health() == [False])
        await wait_until(lambda: int(source.diagnostics()["open_failures"]) >= 2)  # type: ignore[call-overload]
        assert out.health() == [False]  # reported once, not on every retry
        peer = SlcanPeer(link)
        try:
            await wait_until(lambda: out.health() == [False, True])
            await wait_until(peer.is_open.is_set)
            peer.send(0x18FEEE00, bytes.fromhex("28FFFFFFFFFFFFFF"))  # 0 degC
            await wait_until(lambda: out.signals() == [("coolant_temp_c", 0.0)])
        finally:
            peer.unplug()


async def test_cancel_stops_the_reader_thread(peer: SlcanPeer) -> None:
    source = CanSource(can_settings(peer.port))
    async with running(source):
        await wait_until(peer.is_open.is_set)
        assert any(t.name == "can-reader" for t in threading.enumerate())
    assert not any(t.name == "can-reader" for t in threading.enumerate())
    await wait_until(lambda: "C" in peer.commands[-1:])  # bus closed on the way out


def test_from_settings_none_backend_and_bad_dbc(tmp_path: Path) -> None:
    assert CanSource.from_settings(CanSettings()) is None
    bad = tmp_path / "broken.dbc"
    bad.write_text("BO_ nonsense\n")
    with pytest.raises(ConfigError, match=r"\[vehicle.can\] dbc"):
        CanSource.from_settings(CanSettings(backend="slcan", dbc=bad))
    ok = CanSource.from_settings(CanSettings(backend="slcan"))
    assert ok is not None and 65265 in ok.decoder.pgns


async def test_a_crashed_reader_restarts_and_reports_the_adapter_back_up(peer: SlcanPeer) -> None:
    # The template reports a crash as a fault; after the restart the adapter opens again and
    # that must be reported too, or the CAN fault would never be cleared.
    source = CanSource(can_settings(peer.port))
    source.restart_after_crash_s = 0.05
    decoder = source.decoder
    real = decoder.decode
    calls = 0

    def decode_with_one_bug(*args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug in the decoder")
        return real(*args)  # type: ignore[arg-type]

    decoder.decode = decode_with_one_bug  # type: ignore[method-assign]
    async with running(source) as out:
        await wait_until(lambda: peer.is_open.is_set() and out.health() == [True])
        peer.send(0x18FEF100, bytes.fromhex("FF003200FFFFFFFF"))
        await wait_until(lambda: out.health()[-1:] == [False])
        await wait_until(lambda: len(out.health()) == 3)
        assert out.health() == [True, False, True]
        peer.send(0x18FEF100, bytes.fromhex("FF003200FFFFFFFF"))  # 50 km/h
        await wait_until(lambda: out.signals() == [("wheel_speed_kmh", 50.0)])
