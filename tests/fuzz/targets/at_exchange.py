"""Modem AT exchange (``at_exchange``): ``AtModem.command`` over a playback port.

Input: 2 header bytes (FuzzedDataProvider: the read chunk 1..16, the reply prefix expected),
then the bytes the modem answers. Seeds: the property's sample replies.
"""

from __future__ import annotations

from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import header, main

with atheris.instrument_imports(include=["agent"]):
    from tests.fuzz.test_fuzz_modem import REPLIES, check_at_exchange

PREFIXES: list[str | None] = [None, "+CSQ", "+COPS"]


def test_one_input(data: bytes) -> None:
    fdp, reply = header(data, 2)
    check_at_exchange(reply, fdp.ConsumeIntInRange(1, 16), fdp.PickValueInList(PREFIXES))


def seeds() -> Iterator[bytes]:
    for r in REPLIES:
        yield b"\x07\x01" + r


if __name__ == "__main__":
    main("at_exchange", test_one_input, seeds, max_len=1024)
