"""J1939 DBC decoder (``j1939_decoder``): any identifier, 0..12 data bytes, either id kind.

Input: 4 bytes big-endian: bit 31 = extended, the low 29 bits = identifier; then up to 12 data
bytes. Seeds: the PGNs the property samples with data from the CAN tests' frames.
"""

from __future__ import annotations

from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import main

with atheris.instrument_imports(include=["agent"]):
    from tests.fuzz.test_fuzz_can import check_j1939

IDS = [0x18FEF100, 0x0CF00400, 0x18FEC1EE, 0x18FEEE00, 0x18FEF200, 0x18FEBF0B, 0x18FEF500,
       0x18FEE900, 0x18FEFC47, 0x18FEC100, 0x18FEF1FE, 0x18F00500, 0x18FECA00, 0x18FE6CEE]
DATA = [bytes.fromhex("FF003200FFFFFFFF"), bytes.fromhex("F07D7D0000FFFFFF"),
        bytes.fromhex("0010270000000000"), bytes.fromhex("7D7D7D7D7D7D7D7D"), b"",
        bytes.fromhex("FFFFFFFFFFFFFFFF"), bytes.fromhex("0000000000000000")]


def test_one_input(data: bytes) -> None:
    head = int.from_bytes(data[:4].ljust(4, b"\0"), "big")
    check_j1939(head & 0x1FFFFFFF, data[4:16], bool(head >> 31))


def seeds() -> Iterator[bytes]:
    for can_id in IDS:
        for payload in DATA:
            yield (can_id | 1 << 31).to_bytes(4, "big") + payload


if __name__ == "__main__":
    main("j1939_decoder", test_one_input, seeds, max_len=16)
