"""TIRE (PGN 65268) in the shipped DBC and its decoding into one TyreReading per frame."""

from __future__ import annotations

import pytest

from agent.sources.can.decoder import TIRE_PGN, J1939Decoder, default_dbc_path, load_dbc
from agent.sources.can.j1939 import pgn_of
from agent.sources.readings import TyreReading

# SAE J1939-71 TIRE: signal -> (SPN, start bit, length, resolution, offset, unit)
TIRE = {
    "TireLocation": (929, 0, 8, 1, 0, ""),
    "TirePressure": (241, 8, 8, 4, 0, "kPa"),
    "TireTemperature": (242, 16, 16, 0.03125, -273, "degC"),
    "CTIWheelSensorStatus": (1699, 32, 2, 1, 0, ""),
    "CTITireStatus": (1698, 34, 2, 1, 0, ""),
    "CTIWheelEndElectricalFault": (1697, 36, 2, 1, 0, ""),
    "TireAirLeakageRate": (2586, 40, 16, 0.1, 0, "Pa/s"),
    "TirePressureThresholdDetection": (2587, 61, 3, 1, 0, ""),
}
TIRE_ID = 0x18FEF433  # priority 6, source address 0x33 (a TPMS receiver)


def test_tire_layout_matches_j1939_71() -> None:
    msg = load_dbc(default_dbc_path()).get_message_by_name("TIRE")
    assert pgn_of(msg.frame_id) == TIRE_PGN == 0xFEF4
    assert {s.name for s in msg.signals} == set(TIRE)
    for sig in msg.signals:
        spn, start, length, scale, offset, unit = TIRE[sig.name]
        assert (sig.spn, sig.start, sig.length, sig.unit or "") == (spn, start, length, unit)
        assert sig.scale == pytest.approx(scale) and sig.offset == offset
        if length >= 8:  # ranges end at the last valid raw value (0xFA.. for J1939)
            assert sig.maximum == pytest.approx(((0xFB << (length - 8)) - 1) * scale + offset)


def test_a_literal_tire_frame_decodes_per_location() -> None:
    dec = J1939Decoder.from_dbc()
    # axle 1, tyre 2; 205*4 = 820 kPa; 0x2460*0.03125-273 = 18 degC; status: sensor on, leak
    # detected; leak 0x00C8*0.1 = 20 Pa/s; threshold 011 (under pressure)
    data = bytes.fromhex("12CD6024D5C8007F")
    (r,) = dec.decode(TIRE_ID, data, 5.0)
    assert r == TyreReading(5.0, 0x12, 820.0, 18.0, 20.0, 1, 3)
    assert (r.axle, r.position) == (1, 2)


def test_not_available_fields_are_none_and_a_frame_without_location_says_nothing() -> None:
    dec = J1939Decoder.from_dbc()
    (r,) = dec.decode(TIRE_ID, bytes.fromhex("01FFFFFFFFFFFFFF"), 1.0)
    assert r == TyreReading(1.0, 1)
    assert dec.decode(TIRE_ID, bytes.fromhex("FFCDFFFFFFFFFFFF"), 1.0) == ()
    counters = dec.counters()["signals"]
    assert counters["TIRE.TirePressure"]["not_available"] == 1  # type: ignore[index]


def test_implausible_tyre_temperature_is_dropped_and_counted() -> None:
    dec = J1939Decoder.from_dbc()
    # 0x4000*0.03125-273 = 239 degC is plausible; 0xF000*0.03125-273 = 1647 degC is not
    (r,) = dec.decode(TIRE_ID, bytes.fromhex("00CD00F0FFFFFFFF"), 1.0)
    assert isinstance(r, TyreReading) and r.temperature_c is None and r.pressure_kpa == 820.0
    assert dec.counters()["signals"]["TIRE.TireTemperature"]["implausible"] == 1  # type: ignore[index]
