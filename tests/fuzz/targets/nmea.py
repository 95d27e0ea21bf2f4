"""NMEA framer + fix merger (``nmea``): the property of ``tests/fuzz/test_fuzz_nmea.py``.

Input: 2 header bytes (FuzzedDataProvider: the chunk size the stream is fed in, 0 = whole;
whether to recompute every ``$...*hh`` checksum so the fix merger sees mutated fields), then
the byte stream (at most 512 bytes: a few epochs; longer inputs only cost speed). Seeds: the
gpsd receiver captures (../shared/testdata/gpsd, 320-byte pieces of each) and the
property's valid sentences.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import TESTDATA, header, main

with atheris.instrument_imports(include=["agent"]):
    from tests.fuzz.strategies import nmea_checksum
    from tests.fuzz.test_fuzz_nmea import VALID, check

_SENTENCE = re.compile(rb"\$([^*\r\n$]*)\*[0-9A-Fa-f]{0,2}")


def _fix_checksums(data: bytes) -> bytes:
    return _SENTENCE.sub(lambda m: b"$" + m[1] + b"*" + nmea_checksum(
        m[1].decode("latin-1")).encode(), data)


def test_one_input(data: bytes) -> None:
    fdp, stream = header(data, 2)
    size = fdp.ConsumeIntInRange(0, 255)
    if fdp.ConsumeBool():
        stream = _fix_checksums(stream)
    if size == 0:
        check([stream])
    else:
        check([stream[i : i + size] for i in range(0, len(stream), size)])


def seeds() -> Iterator[bytes]:
    yield b"\0\0" + b"".join(VALID)
    for s in VALID:
        yield b"\x07\x01" + s
    for log in sorted((TESTDATA / "gpsd").glob("*.log")):
        text = b"".join(ln for ln in log.read_bytes().splitlines(keepends=True)
                        if not ln.startswith(b"#"))
        for i in range(0, min(len(text), 2560), 320):
            yield b"\0\0" + text[i : i + 320]


if __name__ == "__main__":
    main("nmea", test_one_input, seeds, max_len=512)
