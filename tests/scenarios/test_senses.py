"""Issue 10 part B through the real sources: the AT modem source on the simulated modem's pty
and the CAN source on the SLCAN pty, into the vehicle state, the rules and the envelope."""

from __future__ import annotations

from pathlib import Path

from agent.events import DeviceIdentity, TelemetryDetail, TelemetryEventType, to_envelope
from agent.rules import TelemetryEngine
from agent.sim.pure import run_scenario
from agent.sim.scenario import load_scenario
from agent.sources.readings import CellularStatus, Reading
from tests.scenarios.harness import DATA, run_live

ID = DeviceIdentity("862798050833538", "01GXRRKM43W02X5JZDSMZHAJJY", iccid="cfg-iccid")
T = TelemetryEventType


def telemetry(events: list, kinds: set[T], start: float) -> list[tuple[float, T]]:  # type: ignore[type-arg]
    out = []
    for e in events:
        d = e.detail
        if isinstance(d, TelemetryDetail) and d.event_type in kinds:
            out.append((round(e.timestamp_ms / 1000 - start, 1), d.event_type))
    return out


async def test_modem_losing_coverage_and_coming_back(tmp_path: Path) -> None:
    sc = load_scenario(DATA / "modem_coverage.toml")
    docs: list[tuple[float, bool, int | None]] = []

    def observe(engine: TelemetryEngine, r: Reading) -> None:
        if isinstance(r, CellularStatus):
            doc = engine.state.state_document()
            docs.append((r.t - sc.start_epoch, doc["IsInternetWeak"],
                         doc["LastNetworkSignalStrengthPct"]))

    events, _ = await run_live(sc, tmp_path, observe=observe)
    net = telemetry(events, {T.NETWORK_LOST, T.NETWORK_RESTORED}, sc.start_epoch)
    assert [k for _, k in net] == [T.NETWORK_LOST, T.NETWORK_RESTORED]
    (t_lost, _), (t_back, _) = net
    assert 118 <= t_lost <= 126  # 60 s after the loss at 60 s (+ one poll)
    assert 208 <= t_back <= 216  # 10 s after the return at 200 s
    lost = next(e for e in events if isinstance(e.detail, TelemetryDetail)
                and e.detail.event_type is T.NETWORK_LOST)
    back = next(e for e in events if isinstance(e.detail, TelemetryDetail)
                and e.detail.event_type is T.NETWORK_RESTORED)
    lost_env, back_env = to_envelope(lost, ID, 1), to_envelope(back, ID, 2)
    assert (lost_env["connectionType"], lost_env["mcc"], lost_env["cellID"]) == (0, 0, 0)
    assert lost_env["signalStrength"] == 6  # CSQ 2
    assert (back_env["connectionType"], back_env["signalStrength"]) == (5, 64)  # 4G, CSQ 20
    assert (back_env["mcc"], back_env["mnc"]) == (401, 1)
    assert (back_env["cellID"], back_env["locationAreaCode"]) == (0x01C2D3E4, 0x1A2B)
    # IsInternetWeak: no at first, yes while weak (CSQ 6) and without coverage, no again
    def weak_at(lo: float, hi: float) -> set[bool]:
        return {w for t, w, _ in docs if lo <= t < hi}
    assert weak_at(5, 28) == {False}
    assert weak_at(34, 58) == {True}
    assert weak_at(64, 198) == {True}
    assert weak_at(205, 300) == {False}
    assert {p for t, _, p in docs if 34 <= t < 58} == {19}  # CSQ 6 -> 19 %
    # hardware events carry the SIM's ICCID as the modem read it
    boot_env = to_envelope(events[0], ID, 0)
    assert boot_env["hardwareEvent"]["Iccid"] == "cfg-iccid"  # before the first modem round
    # the pure path (the simulator's ideal run) agrees
    pure = telemetry(run_scenario(sc), {T.NETWORK_LOST, T.NETWORK_RESTORED}, sc.start_epoch)
    assert [k for _, k in pure] == [T.NETWORK_LOST, T.NETWORK_RESTORED]


async def test_slow_tyre_leak_gives_a_leak_alarm_then_low_pressure(tmp_path: Path) -> None:
    sc = load_scenario(DATA / "tyre_leak.toml")
    events, _ = await run_live(sc, tmp_path)
    tyres = telemetry(events, {T.TYRE_LEAK, T.TYRE_LOW_PRESSURE, T.TYRE_HIGH_PRESSURE,
                               T.TYRE_TEMPERATURE}, sc.start_epoch)
    assert [k for _, k in tyres] == [T.TYRE_LEAK, T.TYRE_LOW_PRESSURE]
    (t_leak, _), (t_low, _) = tyres
    assert 44 <= t_leak <= 48  # leak reported from 30 s, held 15 s
    assert 214 <= t_low <= 218  # 820 - 60/min * 171 s < 650 at ~201 s, held 15 s
    leak = next(e for e in events if isinstance(e.detail, TelemetryDetail)
                and e.detail.event_type is T.TYRE_LEAK)
    env = to_envelope(leak, ID, 1)["telemetryEvent"]
    assert env["alarmType"] == 12 and env["tyreLocation"] == 1 and env["leakPaS"] == 1000.0
    pure = telemetry(run_scenario(sc), {T.TYRE_LEAK, T.TYRE_LOW_PRESSURE}, sc.start_epoch)
    assert [k for _, k in pure] == [T.TYRE_LEAK, T.TYRE_LOW_PRESSURE]
