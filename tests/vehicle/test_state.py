"""Vehicle state fusion: speed and ignition sources, levels, the envelope context, the state doc."""

from __future__ import annotations

from agent.events import CellLink, ConnectionType
from agent.sources.readings import Signal, SourceHealth, TroubleCodes
from agent.vehicle import NetworkStatus, RelayStatus, VehicleState
from tests.rules.helpers import LAT0, LON0, T0, fix, route, sig


def test_can_speed_is_preferred_while_fresh_then_gnss_takes_over() -> None:
    s = VehicleState()
    s.apply(fix(0, speed_kmh=48.0))
    assert (s.speed_source, round(s.speed_kmh)) == ("gnss", 48)
    s.apply(sig(0.5, Signal.WHEEL_SPEED_KMH, 50.0, "obd"))
    assert (s.speed_source, s.speed_kmh) == ("obd", 50.0)
    s.apply(sig(0.6, Signal.WHEEL_SPEED_KMH, 51.0, "can"))
    assert (s.speed_source, s.speed_kmh) == ("can", 51.0)
    s.apply(fix(3, speed_kmh=47.0))
    assert s.speed_source == "can"  # 2.4 s old: still fresh
    s.apply(fix(4, speed_kmh=46.0))
    assert (s.speed_source, round(s.speed_kmh)) == ("gnss", 46)  # CAN and OBD went quiet
    s.advance(T0 + 8)
    assert (s.speed_source, s.speed_kmh) == ("none", 0.0)  # the fix is stale too


def test_ignition_prefers_the_acc_line_over_engine_speed_and_bus_activity() -> None:
    s = VehicleState()
    assert s.ignition is None
    s.apply(sig(0, Signal.FUEL_LEVEL_PCT, 40.0, "can"))
    assert s.ignition is True  # bus activity
    s.apply(sig(1, Signal.ENGINE_RPM, 0.0, "can"))
    assert s.ignition is False  # engine speed says off although the bus talks
    s.apply(sig(2, Signal.IGNITION, 1, "gpio"))
    assert s.ignition is True  # ACC line wins
    assert s.ignition_since == T0 + 2


def test_acctime_counts_seconds_in_the_current_acc_state() -> None:
    s = VehicleState()
    s.apply(sig(0, Signal.IGNITION, 1, "gpio"))
    s.advance(T0 + 1400)
    doc = s.state_document()
    assert (doc["accstatus"], doc["acctime"]) == (1, 1400)
    s.apply(sig(1500, Signal.IGNITION, 0, "gpio"))
    s.advance(T0 + 1530)
    doc = s.state_document()
    assert (doc["accstatus"], doc["acctime"]) == (0, 30)


def test_power_input_is_preferred_for_the_supply_voltage_while_fresh() -> None:
    s = VehicleState()
    s.apply(sig(0, Signal.VEHICLE_BATTERY_V, 12.61, "power"))
    s.apply(sig(1, Signal.VEHICLE_BATTERY_V, 12.20, "obd"))
    assert s.vehicle_battery_v == 12.61
    s.advance(T0 + 40)
    assert s.vehicle_battery_v == 12.20  # the power input went stale: latest of any source


def test_context_carries_the_last_valid_fix_even_when_it_is_no_longer_current() -> None:
    s = VehicleState(odometer_m=1234.9)
    s.apply(fix(0, speed_kmh=30.0, track=271.6))
    s.apply(fix(1, valid=False))
    c = s.context()
    assert c.fix is not None
    assert (c.fix.lat, c.fix.lon, c.fix.alt) == (LAT0, LON0, 800.0)
    assert c.fix.epoch_ms == round(T0 * 1000)
    assert c.fixed is False
    assert c.heading == 272
    assert c.speed_kmh == 0  # the last report is "no fix" and there is no CAN: speed unknown
    assert c.odometer_m == 1234
    assert c.fix.satellites_used == 10


def test_state_document_with_everything_unknown() -> None:
    s = VehicleState()
    s.advance(T0)
    doc = s.state_document()
    assert {k: doc[k] for k in ("accstatus", "doorstatus", "chargestatus", "oilpowerstatus",
                                "defencestatus", "battery")} == {
        "accstatus": -1, "doorstatus": -1, "chargestatus": -1, "oilpowerstatus": -1,
        "defencestatus": -1, "battery": -1,
    }  # fmt: skip
    assert doc["FuelLevelPct"] is None
    assert doc["LastMotion"] is None
    assert doc["IsPositionLost"] is True
    assert doc["IsLostContact"] is False
    assert doc["IsInternetWeak"] is False


def test_state_document_fields_from_readings() -> None:
    s = VehicleState(odometer_m=51_654.0)
    s.apply(sig(0, Signal.IGNITION, 1, "gpio"))
    s.apply(sig(0, Signal.DOOR_OPEN, 0, "gpio"))
    s.apply(sig(0, Signal.DOORS_LOCKED, 1, "gpio"))
    s.apply(sig(0, Signal.VEHICLE_BATTERY_V, 13.95, "power"))
    s.apply(sig(0, Signal.BACKUP_BATTERY_V, 4.06, "power"))
    s.apply(sig(0, Signal.FUEL_LEVEL_PCT, 12.34, "can"))
    s.apply(sig(0, Signal.EV_BATTERY_PCT, 81.0, "can"))
    s.apply(RelayStatus(T0, fuel_cut=False))
    s.apply(NetworkStatus(T0, online=True, cell=CellLink(ConnectionType.G4, signal_pct=15)))
    s.apply(TroubleCodes(T0, ("P0301",)))
    s.apply(SourceHealth(T0, "gnss", True))
    for f in route(1, 5, 40.0):
        s.apply(f)
    doc = s.state_document()
    assert doc["accstatus"] == 1
    assert doc["doorstatus"] == 0
    assert doc["defencestatus"] == 1
    assert doc["chargestatus"] == 1
    assert doc["oilpowerstatus"] == 1
    assert doc["battery"] == 80  # (4.06 - 3.5) / 0.7
    assert doc["FuelLevelPct"] == 12.3
    assert doc["IsLowFuel"] is True
    assert doc["EVBLevelPct"] == 81.0
    assert doc["IsLowEVB"] is False
    assert doc["ServiceBattery"] == 13.95
    assert doc["IgnitionVoltageLevel"] == 13_950
    assert doc["LastNetworkSignalStrengthPct"] == 15
    assert doc["IsInternetWeak"] is True
    assert doc["IsOnTripAndMoving"] is True
    assert doc["LastMotion"] == "2023-11-14T22:13:25Z"
    assert doc["IsPositionLost"] is False
    assert doc["fixed"] is True
    assert doc["speed"] == 40
    assert doc["mileage"] >= 51_654 + 40  # 4 s at 40 km/h = 44 m integrated
    assert doc["OdometerKm"] == 51
    assert s.trouble_codes == ("P0301",)


def test_offline_for_300_s_is_lost_contact() -> None:
    s = VehicleState()
    s.apply(NetworkStatus(T0, online=False))
    s.advance(T0 + 299)
    assert s.state_document()["IsLostContact"] is False
    s.advance(T0 + 300)
    assert s.state_document()["IsLostContact"] is True
    s.apply(NetworkStatus(T0 + 301, online=True, cell=CellLink(signal_pct=70)))
    assert s.state_document()["IsLostContact"] is False
