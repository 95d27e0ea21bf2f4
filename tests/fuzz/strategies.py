"""Shared input strategies: raw bytes, and valid samples mutated byte by byte or field by field."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from hypothesis import strategies as st

# Field values that parsers tend to trip over: empty, signs, huge/tiny numbers, NaN spellings,
# separators of the format itself, non-ASCII, control characters.
NASTY_FIELDS = st.sampled_from([
    "", "-", "+", ".", "0", "-0", "00", "1e308", "-1e308", "1e-320", "nan", "NaN", "inf",
    "-inf", "Infinity", "9" * 40, "-" + "9" * 40, "0x1F", "FFFFFFFF", "  ", "*", ",", "$", "!",
    "\x00", "\x7f", "é", "\ud7ff", "A", "Z", "235960", "999999", "0000.0000", "9999.9999",
    "1.2.3", "12..", "--", "'", '"', "\\", "\r", "\n",
])
FIELD = st.one_of(NASTY_FIELDS, st.text(max_size=12),
                  st.from_regex(r"-?[0-9]{0,12}(\.[0-9]{0,8})?", fullmatch=True),
                  st.floats(allow_nan=True, allow_infinity=True).map(repr),
                  st.integers().map(str))


@st.composite
def mutated(draw: st.DrawFn, samples: Sequence[bytes], max_edits: int = 8) -> bytes:
    """One of ``samples`` with a few random byte edits (flip, insert, delete, duplicate)."""
    data = bytearray(draw(st.sampled_from(list(samples))))
    for _ in range(draw(st.integers(0, max_edits))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "dup", "cut"]))
        pos = draw(st.integers(0, max(0, len(data) - 1))) if data else 0
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[pos:pos + draw(st.integers(1, 8))]
        elif op == "dup" and data:
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 16))]
        elif op == "cut":
            data = data[:pos]
    return bytes(data)


@st.composite
def field_mutated(draw: st.DrawFn, samples: Sequence[str], sep: str = ",") -> str:
    """One of ``samples`` (a separated record) with some fields replaced by nasty values."""
    parts = draw(st.sampled_from(list(samples))).split(sep)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(parts) - 1))
        parts[i] = draw(FIELD)
    if draw(st.booleans()):
        parts = parts[: draw(st.integers(1, len(parts)))]
    if draw(st.integers(0, 4)) == 0:
        parts.extend(draw(st.lists(FIELD, max_size=4)))
    return sep.join(parts)


def nmea_checksum(body: str) -> str:
    return f"{reduce(lambda a, c: a ^ c, body.encode('latin-1', 'replace'), 0):02X}"
