"""Modem AT reply lines (``at_lines``): every line parser of ``agent.sources.modem.parse``.

Input: the line as UTF-8 (invalid bytes replaced). Seeds: the property's sample lines.
"""

from __future__ import annotations

from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import main

with atheris.instrument_imports(include=["agent"]):
    from tests.fuzz.test_fuzz_modem import AT_LINES, check_at_line


def test_one_input(data: bytes) -> None:
    check_at_line(data.decode("utf-8", "replace"))


def seeds() -> Iterator[bytes]:
    for line in AT_LINES:
        yield line.encode()


if __name__ == "__main__":
    main("at_lines", test_one_input, seeds, max_len=512)
