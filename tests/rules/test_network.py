"""Cellular network lost / restored, the envelope's cellular fields, IsInternetWeak and the
SIM-changed tamper event, at exact seconds."""

from __future__ import annotations

from agent.events import CellLink, ConnectionType, HardwareEventType, TelemetryEventType
from agent.sources.readings import CellularStatus, RegistrationState, SourceHealth
from tests.rules.helpers import T0, engine, extra, kinds, replay

LOST, BACK = TelemetryEventType.NETWORK_LOST, TelemetryEventType.NETWORK_RESTORED
HOME, SEARCHING = RegistrationState.HOME, RegistrationState.SEARCHING
ICCID = "89860012345678901234"


def cell(t: float, reg: RegistrationState = HOME, pct: int = 64, iccid: str = ICCID,
         stored: str = ICCID) -> CellularStatus:
    on = reg.registered
    link = CellLink(ConnectionType.G4, pct, 401, 1, cell_id=0x01C2D3E4,
                    location_area_code=0x1A2B) if on else CellLink(signal_pct=pct)
    return CellularStatus(T0 + t, reg, link, operator="40101", iccid=iccid,
                          stored_iccid=stored)  # fmt: skip


def quiet():  # type: ignore[no-untyped-def]
    return engine(drivercoach_tracking=False, drivercoach_inertial=False)


def test_lost_after_60_s_unregistered_and_restored_after_10_s_registered() -> None:
    inputs = [cell(t, HOME if not 30 <= t < 200 else SEARCHING, 64 if t < 30 else 6)
              for t in range(0, 300, 5)]
    seen = replay(quiet(), inputs, until=300)
    assert kinds(seen) == [(90, LOST), (210, BACK)]
    assert extra(seen[0]) == {"registration": "searching", "offlineS": 60.0}
    assert extra(seen[1]) == {"outageS": 170.0, "signalPct": 6}
    assert seen[0].event.detail.alarm_type == 0  # type: ignore[union-attr]
    lost_cell, back_cell = seen[0].event.context.cell, seen[1].event.context.cell
    assert (lost_cell.connection_type, lost_cell.mcc, lost_cell.cell_id) == (0, 0, 0)
    assert lost_cell.signal_pct == 6
    assert (back_cell.connection_type, back_cell.mcc, back_cell.mnc) == (ConnectionType.G4, 401, 1)
    assert (back_cell.cell_id, back_cell.location_area_code) == (0x01C2D3E4, 0x1A2B)


def test_a_short_coverage_gap_is_no_event_and_nothing_before_the_first_registration() -> None:
    gap = [cell(t, SEARCHING if 20 <= t < 70 else HOME) for t in range(0, 120, 5)]
    assert replay(quiet(), gap, until=120) == []
    never = [cell(t, SEARCHING) for t in range(0, 300, 5)]
    assert replay(quiet(), never, until=300) == []


def test_a_dead_modem_counts_as_no_network() -> None:
    inputs = [cell(0), SourceHealth(T0 + 10, "modem", False, "modem lost")]
    seen = replay(quiet(), inputs, until=100)
    assert kinds(seen) == [(70, LOST)]
    assert extra(seen[0])["registration"] == "modem down"


def test_is_internet_weak_and_the_signal_in_the_state_document() -> None:
    eng = quiet()
    eng.step(cell(0, pct=64))
    doc = eng.state.state_document()
    assert doc["IsInternetWeak"] is False and doc["LastNetworkSignalStrengthPct"] == 64
    eng.step(cell(5, pct=29))  # CSQ 9
    assert eng.state.state_document()["IsInternetWeak"] is True
    eng.step(cell(10, pct=32))  # CSQ 10
    assert eng.state.state_document()["IsInternetWeak"] is False
    eng.step(cell(15, SEARCHING, pct=80))
    assert eng.state.state_document()["IsInternetWeak"] is True


def test_sim_changed_against_the_stored_iccid_is_one_tamper_event_with_the_iccid() -> None:
    new = "89860099999999999999"
    inputs = [cell(0, iccid=new, stored=ICCID), cell(5, iccid=new, stored=new),
              cell(10, iccid=new, stored=new)]
    seen = replay(quiet(), inputs, until=20)
    assert kinds(seen) == [(0, HardwareEventType.TAMPER)]
    d = seen[0].event.detail
    assert d.details == f"sim changed: {ICCID} -> {new}"  # type: ignore[union-attr]
    assert d.iccid == new  # type: ignore[union-attr]


def test_a_first_sim_is_no_change_and_a_swap_while_running_is() -> None:
    other = "89860011111111111111"
    inputs = [cell(0, stored=""), cell(5, stored=""), cell(10, iccid=other, stored="")]
    seen = replay(quiet(), inputs, until=20)
    assert kinds(seen) == [(10, HardwareEventType.TAMPER)]


def test_hardware_events_carry_the_modem_iccid_once_known() -> None:
    eng = quiet()
    assert eng.boot(T0)[0].detail.iccid == ""  # type: ignore[union-attr]
    eng.step(cell(1))
    ev = eng.hardware_event(T0 + 2, HardwareEventType.ORDER_EXECUTED, "ok")
    assert ev.detail.iccid == ICCID  # type: ignore[union-attr]
