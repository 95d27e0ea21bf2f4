"""CAN: candump/SLCAN log lines, whole capture files, and the J1939 decoder on any frame.

Property: line parsers return a Frame or ``None`` (never raise); ``iter_frames`` counts bad
lines instead of raising; the decoder returns readings (finite values) or nothing.
"""

from __future__ import annotations

import math
from functools import cache

from hypothesis import given
from hypothesis import strategies as st

from agent.sources.can.decoder import J1939Decoder
from agent.sources.can.logfile import ReadStats, iter_frames, parse_line, parse_slcan_line

from .budget import tried
from .strategies import field_mutated, mutated

LINES = [
    "(1436509052.249713) can0 18FEF100#FF003200FFFFFFFF",
    "(1436509052.249713) can0 0CF00400#F07D7D0000FFFFFF",
    "(1436509052.249713) can0 123#R",
    "(1436509052.249713)  can0  18FEF100   [8]  FF 00 32 00 FF FF FF FF",
    "  can0  18FEC1EE   [8]  00 10 27 00 00 00 00 00",
    "T18FEF1008FF003200FFFFFFFF",
    "T0CF004008F07D7D0000FFFFFF1A2B",
    "t1238DEADBEEF01020304",
    "t0000",
    "# a comment",
    "",
]


@cache
def decoder() -> J1939Decoder:
    return J1939Decoder.from_dbc()


@given(st.one_of(st.text(max_size=80), mutated([s.encode() for s in LINES]).map(
    lambda b: b.decode("latin-1")), field_mutated(LINES, sep=" "), field_mutated(LINES, sep="#")))
def test_log_and_slcan_lines(line: str) -> None:
    check_line(line)


def check_line(line: str) -> None:
    """The contract (shared with the atheris harness ``tests/fuzz/targets/can_lines.py``)."""
    tried("can_lines")
    for f in (parse_line(line), parse_slcan_line(line)):
        if f is not None:
            assert len(f.data) <= 64
            assert 0 <= f.can_id < 1 << 29
            assert f.can_id < 1 << 11 or f.extended, f  # the fixed contract: 11-bit standard ids
            assert f.t is None or math.isfinite(f.t), f


@given(st.lists(st.sampled_from(LINES) | st.text(max_size=60), max_size=30),
       st.sampled_from(["\n", "\r", "\r\n"]))
def test_candump_file(lines: list[str], eol: str) -> None:
    check_candump_file(eol.join(lines))


def check_candump_file(text: str) -> None:
    tried("candump_file")
    stats = ReadStats()
    frames = list(iter_frames(text.splitlines(), stats))
    assert len(frames) <= len(text.splitlines())


@given(st.integers(0, (1 << 29) - 1) | st.sampled_from(
    [0x18FEF100, 0x0CF00400, 0x18FEC1EE, 0x18FEEE00, 0x18FEF200, 0x18FEBF0B, 0x18FEF500,
     0x18FEE900, 0x18FEFC47, 0x18FEC100, 0x18FEF1FE, 0x18F00500, 0x18FECA00, 0x18FE6CEE]),
    st.binary(max_size=12), st.booleans())
def test_j1939_decoder(can_id: int, data: bytes, extended: bool) -> None:
    check_j1939(can_id, data, extended)


def check_j1939(can_id: int, data: bytes, extended: bool) -> None:
    tried("j1939_decoder")
    dec = decoder()
    for r in dec.decode(can_id, data, 1.0, extended):
        value = getattr(r, "value", None)
        if isinstance(value, float):
            assert math.isfinite(value), r
    dec.explain(can_id, data)
    dec.counters()


def test_regression_identifier_over_29_bits_is_not_a_frame() -> None:
    """Found by this fuzzer: ``T200000000`` gave a frame with a 30-bit id; candump writes error
    frames with CAN_ERR_FLAG (0x20000000) set, which are not data frames either."""
    assert parse_slcan_line("T200000000") is None
    assert parse_slcan_line("t8000") is None
    assert parse_line("(1436509052.249713) can0 20000004#0004000000000000") is None
    assert parse_line("  can0  20000004   [8]  00 04 00 00 00 00 00 00") is None
    assert parse_line("(1.0) can0 800#00") is None
    assert parse_slcan_line("T1FFFFFFF0") is not None
    assert parse_line("(1.0) can0 7FF#00") is not None


def test_regression_slcan_and_log_fields_are_ascii_hex_and_finite() -> None:
    """Found by the atheris harness (tests/fuzz/targets/can_lines.py): ``T-1008FF00F`` gave a
    frame with id -1 (``int(..., 16)`` takes a sign; also spaces, ``_`` and ``0x``), the DLC
    digit could be any script's digit, and a timestamp of over 308 digits was ``inf``."""
    for line in ("T-1008FF00F", "T-0000001100", "t-101A", "t 1F0", "t1_F0", "T0x1234561AB",
                 "t123\u0663ABCDEF", "t1232 ABC", "t1232A B"):
        assert parse_slcan_line(line) is None, line
        assert parse_line(line) is None, line
    big = "9" * 400
    assert parse_line(f"({big}) can0 123#00") is None
    assert parse_line(f"({big})  can0  123   [1]  00") is None
    assert parse_line("(\u0661.5) can0 123#00") is None
    assert parse_line("  can0  123   [\u0661]  00") is None
    assert parse_slcan_line("t1232ABCD") == parse_line("t1232ABCD") is not None
    assert parse_line("(1.5) can0 123#00") is not None
