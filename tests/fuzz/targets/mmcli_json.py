"""``mmcli -J`` documents (``mmcli_json``): the modem, SIM and location parsers.

Input: a JSON text (inputs that are not JSON are skipped: the parsers take parsed documents).
Seeds: the captured mmcli documents in tests/sources/modem/data and the property's sample.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import ROOT, main

with atheris.instrument_imports(include=["agent"]):
    from tests.fuzz.test_fuzz_modem import SAMPLE, check_mmcli


def test_one_input(data: bytes) -> None:
    try:
        doc = json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return
    check_mmcli(doc)


def seeds() -> Iterator[bytes]:
    yield json.dumps(SAMPLE).encode()
    for path in sorted((ROOT / "tests" / "sources" / "modem" / "data").glob("*.json")):
        yield path.read_bytes()


if __name__ == "__main__":
    main("mmcli_json", test_one_input, seeds, max_len=8192)
