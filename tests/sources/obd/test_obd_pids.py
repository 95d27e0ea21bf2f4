"""J1979 decoding: PID formulas, supported-PID bitmaps, J2012 trouble codes."""

from __future__ import annotations

import pytest

from agent.sources.obd.pids import PIDS_BY_NUMBER, decode_dtcs, dtc_string, supported_pids
from agent.sources.readings import Signal


@pytest.mark.parametrize(
    ("pid", "data", "value", "signal"),
    [
        (0x0D, "3C", 60.0, Signal.WHEEL_SPEED_KMH),
        (0x0C, "1AF8", 1726.0, Signal.ENGINE_RPM),  # (256*26 + 248) / 4
        (0x0C, "0001", 0.25, Signal.ENGINE_RPM),
        (0x2F, "FF", 100.0, Signal.FUEL_LEVEL_PCT),
        (0x2F, "80", 128 * 100 / 255, Signal.FUEL_LEVEL_PCT),
        (0x42, "3A98", 15.0, Signal.VEHICLE_BATTERY_V),  # 15000 mV
        (0x05, "00", -40.0, Signal.COOLANT_TEMP_C),
        (0x05, "7B", 83.0, Signal.COOLANT_TEMP_C),
        (0x5B, "FF", 100.0, Signal.EV_BATTERY_PCT),
        (0xA6, "000F4240", 100_000_000.0, Signal.TOTAL_DISTANCE_M),  # 1e6 x 0.1 km
        (0xA6, "00000001", 100.0, Signal.TOTAL_DISTANCE_M),
        (0x31, "0032", 50.0, None),  # km since codes cleared: not an odometer
    ],
)
def test_pid_formulas(pid: int, data: str, value: float, signal: Signal | None) -> None:
    p = PIDS_BY_NUMBER[pid]
    assert p.decode(bytes.fromhex(data)) == pytest.approx(value)
    assert p.signal == signal


def test_pid_with_too_few_bytes_raises() -> None:
    with pytest.raises(ValueError, match="needs 2 bytes"):
        PIDS_BY_NUMBER[0x0C].decode(b"\x1a")


def test_supported_pid_bitmap() -> None:
    assert supported_pids(0x00, bytes.fromhex("BE3FA813")) == {
        0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10,
        0x11, 0x13, 0x15, 0x1C, 0x1F, 0x20}
    assert supported_pids(0xA0, bytes.fromhex("04000000")) == {0xA6}
    assert supported_pids(0x20, bytes.fromhex("00000000")) == set()


@pytest.mark.parametrize(
    ("high", "low", "code"),
    [(0x01, 0x33, "P0133"), (0x41, 0x58, "C0158"), (0x92, 0x34, "B1234"),
     (0xC1, 0x58, "U0158"), (0x3F, 0xFF, "P3FFF"), (0xE0, 0x01, "U2001")],
)
def test_dtc_letters_and_digits(high: int, low: int, code: str) -> None:
    assert dtc_string(high, low) == code


def test_can_dtcs_carry_a_count_and_padding_is_dropped() -> None:
    # CAN: 43 | count | DTCs (odd payload length after 43)
    assert decode_dtcs([bytes.fromhex("05 0133 0171 4158 C158 9234")]) == (
        "P0133", "P0171", "C0158", "U0158", "B1234")
    assert decode_dtcs([bytes.fromhex("00")]) == ()
    # count smaller than the bytes present (ECU padding): only `count` codes
    assert decode_dtcs([bytes.fromhex("0101330000")[:3]]) == ("P0133",)


def test_legacy_protocol_dtcs_come_three_per_message_without_count() -> None:
    # J1850 / ISO 9141: each 43 message holds 3 DTCs, padded with 0000.
    assert decode_dtcs([bytes.fromhex("013301710000"), bytes.fromhex("C15800000000")]) == (
        "P0133", "P0171", "U0158")


def test_the_same_code_from_two_ecus_is_reported_once() -> None:
    assert decode_dtcs([bytes.fromhex("010133"), bytes.fromhex("020133C158")]) == (
        "P0133", "U0158")
