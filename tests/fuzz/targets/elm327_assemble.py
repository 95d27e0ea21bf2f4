"""ELM327 multi-frame assembler (``elm327_assemble``): ``assemble`` on any lines.

Input: the lines as UTF-8 (invalid bytes replaced), separated by CR as the adapter sends them.
Seeds: the lines of the property's sample replies.
"""

from __future__ import annotations

from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import main

with atheris.instrument_imports(include=["agent"]):
    from tests.fuzz.test_fuzz_obd import REPLIES, check_assemble


def test_one_input(data: bytes) -> None:
    check_assemble(data.decode("utf-8", "replace").split("\r"))


def seeds() -> Iterator[bytes]:
    for r in REPLIES:
        yield b"\r".join(ln for ln in r.rstrip(b">").split(b"\r") if ln)


if __name__ == "__main__":
    main("elm327_assemble", test_one_input, seeds, max_len=1024)
