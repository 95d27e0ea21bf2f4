"""candump / SLCAN log lines (``can_lines``): the property of ``tests/fuzz/test_fuzz_can.py``.

Input: the line as UTF-8 (invalid bytes replaced). Seeds: the property's sample lines and the
candump/SLCAN lines quoted in the CAN tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import main
from tests.fuzz.targets.can_seeds import sample_lines

with atheris.instrument_imports(include=["agent"]):
    from tests.fuzz.test_fuzz_can import check_line


def test_one_input(data: bytes) -> None:
    check_line(data.decode("utf-8", "replace"))


def seeds() -> Iterator[bytes]:
    for line in sample_lines():
        yield line.encode()


if __name__ == "__main__":
    main("can_lines", test_one_input, seeds, max_len=256)
