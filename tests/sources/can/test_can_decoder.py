"""The shipped J1939/FMS DBC and the PGN-indexed decoder, on literal frames."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import SourceError
from agent.sources.can.decoder import J1939Decoder, default_dbc_path, load_dbc
from agent.sources.can.j1939 import pgn_of, priority_of, source_address
from agent.sources.readings import Signal, SignalReading

# The public J1939-71 definitions the DBC was written from:
# message -> (PGN, SPN, start byte (1-based), length bits, resolution, offset, unit)
J1939_71 = {
    "CCVS1": (65265, 84, 2, 16, 1 / 256, 0, "km/h"),
    "EEC1": (61444, 190, 4, 16, 0.125, 0, "rpm"),
    "DD1": (65276, 96, 2, 8, 0.4, 0, "%"),
    "VD": (65248, 245, 5, 32, 0.125, 0, "km"),
    "VDHR": (65217, 917, 1, 32, 5, 0, "m"),
    "HOURS": (65253, 247, 1, 32, 0.05, 0, "h"),
    "VEP1": (65271, 168, 5, 16, 0.05, 0, "V"),
    "ET1": (65262, 110, 1, 8, 1, -40, "degC"),
}


@pytest.fixture
def dec() -> J1939Decoder:
    return J1939Decoder.from_dbc()


def values(readings: object) -> list[tuple[Signal, float]]:
    assert isinstance(readings, (list, tuple))
    return [(r.signal, r.value) for r in readings if isinstance(r, SignalReading)]


def test_pgn_of_pdu2_ignores_priority_and_source_address() -> None:
    assert pgn_of(0x18FEF100) == 65265
    assert pgn_of(0x0CFEF1EE) == 65265
    assert pgn_of(0x0CF00400) == 61444
    assert source_address(0x18FEF117) == 0x17
    assert priority_of(0x0CF00400) == 3


def test_pgn_of_pdu1_masks_destination_address() -> None:
    # TSC1 (PGN 0 / 0x0000) sent to engine 0x00 and to 0x0F, request PGN 59904 (0xEA00)
    assert pgn_of(0x0C000F03) == 0
    assert pgn_of(0x18EA00F9) == 59904
    assert pgn_of(0x18EAFFF9) == 59904


def test_shipped_dbc_matches_the_public_pgn_spn_definitions() -> None:
    db = load_dbc(default_dbc_path())
    assert sorted(m.name for m in db.messages) == sorted([*J1939_71, "TIRE"])
    for msg in db.messages:
        if msg.name == "TIRE":
            continue  # several signals: test_tire_layout_matches_j1939_71
        pgn, spn, start_byte, length, scale, offset, unit = J1939_71[msg.name]
        assert msg.is_extended_frame
        assert pgn_of(msg.frame_id) == pgn
        assert msg.protocol == "j1939"
        (sig,) = msg.signals
        assert sig.spn == spn
        assert sig.byte_order == "little_endian"
        assert sig.start == (start_byte - 1) * 8
        assert sig.length == length
        assert sig.scale == pytest.approx(scale)
        assert sig.offset == offset
        assert sig.unit == unit
        # The DBC range ends at the last valid raw value (0xFA.. for J1939).
        top_valid = (0xFB << (length - 8)) - 1
        assert sig.maximum == pytest.approx(top_valid * scale + offset, abs=1e-3)


def test_each_fms_frame_decodes_to_its_agent_signal(dec: J1939Decoder) -> None:
    t = 1_700_000_000.25
    frames = [
        (0x18FEF100, "FF 00 32 FF FF FF FF FF"),  # speed 0x3200/256 = 50 km/h
        (0x0CF00400, "FF FF FF 41 1F FF FF FF"),  # rpm 0x1F41*0.125 = 1000.125
        (0x18FEFC00, "FF C8 FF FF FF FF FF FF"),  # fuel 200*0.4 = 80 %
        (0x18FEE500, "10 27 00 00 FF FF FF FF"),  # hours 10000*0.05 = 500 h
        (0x18FEF700, "FF FF FF FF 19 01 FF FF"),  # battery 281*0.05 = 14.05 V
        (0x18FEEE00, "78 FF FF FF FF FF FF FF"),  # coolant 120-40 = 80 degC
        (0x18FEE000, "FF FF FF FF 41 42 0F 00"),  # VD 1000001*0.125 km = 125000125 m
    ]
    got = []
    for can_id, hexdata in frames:
        got += values(dec.decode(can_id, bytes.fromhex(hexdata), t))
    assert got == [
        (Signal.WHEEL_SPEED_KMH, 50.0),
        (Signal.ENGINE_RPM, 1000.125),
        (Signal.FUEL_LEVEL_PCT, pytest.approx(80.0)),
        (Signal.ENGINE_HOURS_H, pytest.approx(500.0)),
        (Signal.VEHICLE_BATTERY_V, pytest.approx(14.05)),
        (Signal.COOLANT_TEMP_C, 80.0),
        (Signal.TOTAL_DISTANCE_M, 125_000_125.0),
    ]
    reading = dec.decode(0x18FEF100, bytes.fromhex("FF003200FFFFFFFF"), t)[0]
    assert reading == SignalReading(t, Signal.WHEEL_SPEED_KMH, 50.0, "can")


def test_any_source_address_and_priority_decode(dec: J1939Decoder) -> None:
    data = bytes.fromhex("FF8025FFFFFFFFFF")  # 0x2580/256 = 37.5 km/h
    for can_id in (0x18FEF100, 0x18FEF117, 0x0CFEF1EE, 0x1CFEF1FE):
        assert values(dec.decode(can_id, data, 0.0)) == [(Signal.WHEEL_SPEED_KMH, 37.5)]


def test_not_available_error_and_out_of_range_values_are_skipped_and_counted(
    dec: J1939Decoder,
) -> None:
    frames = [
        (0x18FEF100, "FF FF FF FF FF FF FF FF"),  # speed 0xFFFF: not available
        (0x18FEF100, "FF 12 FE FF FF FF FF FF"),  # speed 0xFE12: error
        (0x18FEF100, "FF 00 FB FF FF FF FF FF"),  # speed 0xFB00 = 251 km/h: reserved range
        (0x0CF00400, "FF FF FF FF FF FF FF FF"),  # rpm not available
        (0x18FEFC00, "FF FB FF FF FF FF FF FF"),  # fuel 251*0.4 = 100.4 %: out of range
        (0x18FEFC00, "FF FE FF FF FF FF FF FF"),  # fuel error
        (0x18FEEE00, "FF FF FF FF FF FF FF FF"),  # coolant not available
        (0x18FEC100, "FF FF FF FF FF FF FF FF"),  # VDHR not available
        (0x18FEF100, "FF 00 0A FF FF FF FF FF"),  # valid: 10 km/h
    ]
    got = []
    for can_id, hexdata in frames:
        got += values(dec.decode(can_id, bytes.fromhex(hexdata), 0.0))
    assert got == [(Signal.WHEEL_SPEED_KMH, 10.0)]
    sig = dec.counters()["signals"]
    assert isinstance(sig, dict)
    assert sig["CCVS1.WheelBasedVehicleSpeed"] == {
        "decoded": 1, "not_available": 1, "error": 1, "out_of_range": 1, "implausible": 0,
        "superseded": 0}
    assert sig["EEC1.EngineSpeed"]["not_available"] == 1
    assert sig["DD1.FuelLevel1"] == {
        "decoded": 0, "not_available": 0, "error": 1, "out_of_range": 1, "implausible": 0,
        "superseded": 0}
    assert sig["ET1.EngineCoolantTemperature"]["not_available"] == 1
    assert sig["VDHR.HighResolutionTotalVehicleDistance"]["not_available"] == 1


def test_high_resolution_distance_supersedes_vd_once_seen(dec: J1939Decoder) -> None:
    vd = bytes.fromhex("FFFFFFFF08000000")  # 8*0.125 km = 1000 m
    vdhr = bytes.fromhex("C8000000FFFFFFFF")  # 200*5 m = 1000 m
    got = values(dec.decode(0x18FEE000, vd, 0.0))
    got += values(dec.decode(0x18FEC100, vdhr, 0.0))
    got += values(dec.decode(0x18FEE000, vd, 0.0))  # dropped: VDHR is finer
    got += values(dec.decode(0x18FEC100, vdhr, 0.0))
    assert got == [(Signal.TOTAL_DISTANCE_M, 1000.0)] * 3
    sig = dec.counters()["signals"]
    assert isinstance(sig, dict)
    assert sig["VD.TotalVehicleDistance"]["superseded"] == 1


def test_short_frames_standard_ids_and_unknown_pgns_are_counted(dec: J1939Decoder) -> None:
    assert dec.decode(0x18FEF100, b"\xff\x00", 0.0) == ()  # CCVS1 needs 8 bytes
    assert dec.decode(0x18FECA00, bytes(8), 0.0) == ()  # DM1: not in the DBC
    assert dec.decode(0x123, bytes(8), 0.0, extended=False) == ()
    c = dec.counters()
    assert (c["frames"], c["matched"], c["bad_length"], c["unknown_pgn"], c["not_extended"]) == (
        3, 0, 1, 1, 1)


def test_explain_says_why_a_signal_was_dropped(dec: J1939Decoder) -> None:
    ok = dec.explain(0x18FEF117, bytes.fromhex("FF003200FFFFFFFF"))
    assert ok is not None
    assert (ok.message, ok.pgn, ok.source_address, ok.values, ok.skipped) == (
        "CCVS1", 65265, 0x17, {"WheelBasedVehicleSpeed": 50.0}, {})
    na = dec.explain(0x18FEFC00, bytes.fromhex("FFFFFFFFFFFFFFFF"))
    assert na is not None and na.skipped == {"FuelLevel1": "not available"}
    assert na.readings == ()
    assert dec.explain(0x18FECA00, bytes(8)) is None


CUSTOM_DBC = """VERSION ""
NS_ :
BS_:
BU_:
BO_ 2566844926 TruckSpeed: 8 Vector__XXX
 SG_ Speed : 8|16@1+ (0.00390625,0) [0|250.996] "km/h" Vector__XXX
 SG_ ParkingBrake : 2|2@1+ (1,0) [0|1] "" Vector__XXX
BA_DEF_ SG_ "SPN" INT 0 524287;
BA_DEF_DEF_ "SPN" 0;
BA_ "SPN" SG_ 2566844926 Speed 84;
BA_ "SPN" SG_ 2566844926 ParkingBrake 70;
"""


def test_a_replacement_dbc_maps_by_spn_not_by_name(tmp_path: Path) -> None:
    path = tmp_path / "fleet.dbc"
    path.write_text(CUSTOM_DBC)
    dec = J1939Decoder.from_dbc(path)
    # parking brake bits 3-4 = 01 (set), speed 0x1400/256 = 20 km/h
    assert values(dec.decode(0x18FEF100, bytes.fromhex("F4001400FFFFFFFF"), 0.0)) == [
        (Signal.WHEEL_SPEED_KMH, 20.0)]
    # a 2-bit discrete: 11 = not available, 10 = error
    dec.decode(0x18FEF100, bytes.fromhex("FC001400FFFFFFFF"), 0.0)
    dec.decode(0x18FEF100, bytes.fromhex("F8001400FFFFFFFF"), 0.0)
    sig = dec.counters()["signals"]
    assert isinstance(sig, dict)
    assert sig["TruckSpeed.ParkingBrake"] == {
        "decoded": 1, "not_available": 1, "error": 1, "out_of_range": 0, "implausible": 0,
        "superseded": 0}


def test_an_unreadable_dbc_is_a_source_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dbc"
    bad.write_text("this is not a dbc\n")
    with pytest.raises(SourceError, match="cannot load DBC"):
        J1939Decoder.from_dbc(bad)
    with pytest.raises(SourceError, match="cannot load DBC"):
        J1939Decoder.from_dbc(tmp_path / "missing.dbc")


def test_values_inside_the_dbc_range_but_physically_impossible_are_refused(
        dec: J1939Decoder) -> None:
    """VEP1 allows 3,212 V and VD 526 million km: a well-formed frame can still be nonsense."""
    got = values(dec.decode(0x18FEF700, bytes.fromhex("FFFFFFFFD007FFFF"), 0.0))  # 100 V
    got += values(dec.decode(0x18FEE000, bytes.fromhex("FFFFFFFF000000FA"), 0.0))  # 5e8 km
    got += values(dec.decode(0x18FEF700, bytes.fromhex("FFFFFFFF1801FFFF"), 0.0))  # 14 V
    assert got == [(Signal.VEHICLE_BATTERY_V, 14.0)]
    c = dec.counters()
    assert c["implausible"] == 2
    sig = c["signals"]
    assert isinstance(sig, dict)
    assert sig["VEP1.BatteryPotentialPowerInput1"]["implausible"] == 1
    assert sig["VEP1.BatteryPotentialPowerInput1"]["decoded"] == 1
    assert sig["VD.TotalVehicleDistance"]["implausible"] == 1
    why = dec.explain(0x18FEF700, bytes.fromhex("FFFFFFFFD007FFFF"))
    assert why is not None and why.skipped == {"BatteryPotentialPowerInput1": "implausible (100 V)"}


def test_a_fleet_dbc_that_allows_600_kmh_still_gets_no_such_reading(tmp_path: Path) -> None:
    path = tmp_path / "fleet.dbc"
    path.write_text(CUSTOM_DBC.replace("(0.00390625,0) [0|250.996]", "(0.01,0) [0|655.35]"))
    dec = J1939Decoder.from_dbc(path)
    assert values(dec.decode(0x18FEF100, bytes.fromhex("F460EAFFFFFFFFFF"), 0.0)) == []  # 600
    assert values(dec.decode(0x18FEF100, bytes.fromhex("F4409CFFFFFFFFFF"), 0.0)) == [
        (Signal.WHEEL_SPEED_KMH, 400.0)]  # the limit itself is plausible
    assert dec.counters()["implausible"] == 1
