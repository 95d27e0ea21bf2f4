"""candump capture files (``candump_file``): ``iter_frames`` over a whole file's lines.

Input: the file's text as UTF-8 (invalid bytes replaced), any line ends. Seeds: the sample
lines of the CAN tests joined into files with each kind of line end.
"""

from __future__ import annotations

from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import main
from tests.fuzz.targets.can_seeds import sample_lines

with atheris.instrument_imports(include=["agent"]):
    from tests.fuzz.test_fuzz_can import check_candump_file


def test_one_input(data: bytes) -> None:
    check_candump_file(data.decode("utf-8", "replace"))


def seeds() -> Iterator[bytes]:
    lines = sample_lines()
    for eol in ("\n", "\r", "\r\n"):
        yield eol.join(lines).encode()
    for i in range(0, len(lines), 4):
        yield "\n".join(lines[i : i + 4]).encode()


if __name__ == "__main__":
    main("candump_file", test_one_input, seeds)
