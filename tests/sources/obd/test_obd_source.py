"""ObdSource end to end over a real pty: polling, DTCs, error counting, faults, replug."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.sources.obd.source import NO_DATA_LIMIT, ObdSource
from agent.sources.readings import SignalReading, SourceHealth, TroubleCodes
from tests.sources.obd.elm_peer import ElmPeer, sequence
from tests.sources.obd.obd_harness import obd_settings, running, wait_until

FIRST_ROUND = [
    ("wheel_speed_kmh", 60.0),
    ("engine_rpm", 1726.0),
    ("fuel_level_pct", pytest.approx(180 * 100 / 255)),
    ("vehicle_battery_v", 15.0),
    ("coolant_temp_c", 83.0),
    ("total_distance_m", 100_000_000.0),
]


async def test_init_discovery_and_first_round_of_readings(elm: ElmPeer) -> None:
    source = ObdSource(obd_settings(elm.port))
    before = time.time()
    async with running(source) as out:
        await wait_until(lambda: len(out.dtcs()) == 1)
        diag = source.diagnostics()
    assert [c for c in elm.commands if c][:14] == [
        "ATZ", "ATE0", "ATL0", "ATS0", "ATH0", "ATSP0",
        "0100", "0120", "0140", "0160", "0180", "01A0", "ATDPN", "010D"]
    assert out.health()[0] is True
    assert out.signals()[:6] == FIRST_ROUND
    assert out.dtcs() == [("P0133", "P0171", "C0158", "U0158", "B1234")]
    first = next(r for r in out if isinstance(r, SignalReading))
    assert first.source == "obd" and first.t >= before
    # one round: the six agent PIDs, 015B (NO DATA) and 0131 (diagnostics only), then 03
    assert elm.obd_requests()[6:15] == [
        "010D", "010C", "012F", "0142", "0105", "015B", "01A6", "0131", "03"]
    assert diag["adapter"] == "ELM327 v1.5" and diag["protocol"] == "A6"
    supported = diag["supported_pids"]
    assert isinstance(supported, list)
    assert {"05", "0C", "0D", "2F", "31", "42", "5B", "A6"} <= set(supported)
    assert diag["last_values"]["distance_since_codes_cleared"] == 50.0  # type: ignore[index]


async def test_unsupported_pids_are_not_polled(tmp_path: Path) -> None:
    peer = ElmPeer(responses={"0100": ["410000180000"], "010C": ["410C0FA0"],
                              "010D": ["410D00"], "03": ["4300"]})  # only 0C and 0D
    try:
        source = ObdSource(obd_settings(peer.port))
        async with running(source) as out:
            await wait_until(lambda: len(out.signals()) >= 4)
        assert out.signals()[:2] == [("wheel_speed_kmh", 0.0), ("engine_rpm", 1000.0)]
        assert out.dtcs()[0] == ()
        assert set(peer.obd_requests()) == {"0100", "010D", "010C", "03"}
    finally:
        peer.unplug()


async def test_declared_pid_that_never_answers_is_counted_then_dropped(elm: ElmPeer) -> None:
    source = ObdSource(obd_settings(elm.port, poll_interval_s=0.0))
    async with running(source) as out:
        await wait_until(lambda: source.diagnostics()["dropped_pids"] == ["5B"])
        n = elm.obd_requests().count("015B")
        await wait_until(lambda: len(out.signals()) > 60)
        diag = source.diagnostics()
    assert n == NO_DATA_LIMIT
    assert elm.obd_requests().count("015B") == NO_DATA_LIMIT  # not asked again
    errors = diag["errors"]
    assert isinstance(errors, dict) and errors["no_data"] == NO_DATA_LIMIT
    assert out.health() == [True]


async def test_error_replies_are_counted_and_polling_goes_on(elm: ElmPeer) -> None:
    elm.responses["010D"] = sequence(["CAN ERROR"], ["?"], ["BUS BUSY"], ["STOPPED"],
                                     ["410D14"])
    source = ObdSource(obd_settings(elm.port, max_consecutive_errors=5))
    async with running(source) as out:
        await wait_until(lambda: ("wheel_speed_kmh", 20.0) in out.signals())
        diag = source.diagnostics()
    errors = diag["errors"]
    assert isinstance(errors, dict)
    assert (errors["can_error"], errors["unknown_command"], errors["bus_busy"],
            errors["stopped"]) == (1, 1, 1, 1)
    assert out.health() == [True]  # other PIDs answered in between: no fault


async def test_vehicle_off_is_not_an_adapter_fault_and_polling_starts_at_ignition(
    elm: ElmPeer,
) -> None:
    elm.vehicle_off = True
    source = ObdSource(obd_settings(elm.port))
    async with running(source) as out:
        await wait_until(lambda: source.diagnostics()["errors"] == {"unable_to_connect": 2})
        diag = source.diagnostics()
        assert diag["vehicle_responding"] is False
        assert "UNABLE TO CONNECT" in str(diag["vehicle_detail"])
        assert out.health() == [True]  # the adapter is fine
        assert out.signals() == []
        elm.vehicle_off = False  # ignition on
        await wait_until(lambda: len(out.signals()) >= 6)
        assert source.diagnostics()["vehicle_responding"] is True
    assert out.signals()[:6] == FIRST_ROUND
    assert out.health() == [True]
    assert elm.commands.count("ATZ") == 1  # the adapter was not reset for a parked vehicle


async def test_vehicle_going_quiet_while_polling_is_found_again(elm: ElmPeer) -> None:
    source = ObdSource(obd_settings(elm.port, max_consecutive_errors=3))
    async with running(source) as out:
        await wait_until(lambda: len(out.signals()) >= 6)
        elm.vehicle_off = True  # ignition off while driving the poll loop
        await wait_until(lambda: source.diagnostics()["vehicle_responding"] is False)
        assert "3 failed requests in a row" in str(source.diagnostics()["vehicle_detail"])
        n = len(out.signals())
        elm.responses["010D"] = ["410D1E"]  # 30 km/h after the restart
        elm.vehicle_off = False
        await wait_until(lambda: ("wheel_speed_kmh", 30.0) in out.signals()[n:])
    assert out.health() == [True]
    assert elm.commands.count("ATZ") == 1
    assert elm.obd_requests().count("0100") >= 2  # found again by asking PID 00


async def test_timeouts_in_a_row_reinitialise_the_adapter(elm: ElmPeer) -> None:
    source = ObdSource(obd_settings(elm.port, command_timeout_s=0.1, max_consecutive_errors=3))
    async with running(source) as out:
        await wait_until(lambda: len(out.signals()) >= 6)
        elm.mute = True  # the adapter stops answering OBD requests
        await wait_until(lambda: out.health() == [True, False])
        fault = [r for r in out if isinstance(r, SourceHealth)][-1]
        assert "no answer to 3 requests in a row" in fault.detail
        elm.mute = False
        await wait_until(lambda: out.health() == [True, False, True])
        diag = source.diagnostics()
    errors = diag["errors"]
    assert isinstance(errors, dict) and errors["timeout"] >= 3
    assert diag["sessions"] == 2
    assert elm.commands.count("ATZ") == 2


async def test_unplug_reports_fault_and_replug_restores_polling(tmp_path: Path) -> None:
    link = tmp_path / "ttyOBD"
    first = ElmPeer(link)
    source = ObdSource(obd_settings(str(link)))
    async with running(source) as out:
        await wait_until(lambda: len(out.signals()) >= 6)
        first.unplug()
        await wait_until(lambda: out.health() == [True, False])
        fault = [r for r in out if isinstance(r, SourceHealth)][-1]
        assert "lost" in fault.detail
        await wait_until(lambda: int(source.diagnostics()["open_failures"]) >= 2)  # type: ignore[call-overload]
        n = len(out.signals())
        second = ElmPeer(link)
        second.responses["010D"] = ["410D50"]  # 80 km/h now
        await wait_until(lambda: out.health() == [True, False, True])
        await wait_until(lambda: ("wheel_speed_kmh", 80.0) in out.signals()[n:])
    second.unplug()
    diag = source.diagnostics()
    assert diag["disconnects"] == 1 and diag["opens"] == 2
    assert [r.codes for r in out if isinstance(r, TroubleCodes)][-1] == (
        "P0133", "P0171", "C0158", "U0158", "B1234")


async def test_adapter_absent_at_start_is_one_fault(tmp_path: Path) -> None:
    source = ObdSource(obd_settings(str(tmp_path / "nothing")))
    async with running(source) as out:
        await wait_until(lambda: int(source.diagnostics()["open_failures"]) >= 3)  # type: ignore[call-overload]
    assert out.health() == [False]
    assert "cannot open" in str(source.diagnostics()["last_error"])


async def test_answers_outside_the_physical_limits_are_dropped_not_failures(elm: ElmPeer) -> None:
    """PID 42 can say 65.5 V and PID A6 429 million km: well-formed, impossible. They never
    become readings, are counted, and do not count as failed requests."""
    elm.responses["0142"] = ["4142FFFF"]
    elm.responses["01A6"] = ["41A6FFFFFFFF"]
    source = ObdSource(obd_settings(elm.port, max_consecutive_errors=2))
    async with running(source) as out:
        await wait_until(lambda: elm.obd_requests().count("01A6") >= 3)  # three rounds
        diag = source.diagnostics()
    names = {name for name, _ in out.signals()}
    assert "vehicle_battery_v" not in names and "total_distance_m" not in names
    assert {"wheel_speed_kmh", "engine_rpm", "coolant_temp_c"} <= names
    implausible = diag["implausible"]
    assert isinstance(implausible, dict)
    assert implausible["vehicle_battery_v"] >= 2 and implausible["total_distance_m"] >= 2
    assert out.health() == [True]
    assert diag["vehicle_responding"] is True
