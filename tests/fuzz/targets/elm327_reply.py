"""ELM327 replies (``elm327_reply``): ``Elm327.command`` over a playback port.

Input: 2 header bytes (FuzzedDataProvider: the port's read chunk 1..16, the command sent),
then the bytes the adapter answers. Seeds: the property's sample replies.
"""

from __future__ import annotations

from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import header, main

with atheris.instrument_imports(include=["agent"]):
    from tests.fuzz.test_fuzz_obd import REPLIES, check_command_reply

COMMANDS = ["0100", "010C", "ATZ", "0902", "03"]


def test_one_input(data: bytes) -> None:
    fdp, reply = header(data, 2)
    check_command_reply(reply, fdp.ConsumeIntInRange(1, 16), fdp.PickValueInList(COMMANDS))


def seeds() -> Iterator[bytes]:
    for r in REPLIES:
        yield b"\x07\x00" + r


if __name__ == "__main__":
    main("elm327_reply", test_one_input, seeds, max_len=1024)
