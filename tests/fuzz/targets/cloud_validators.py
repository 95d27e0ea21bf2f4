"""Stand-in cloud request bodies (``cloud_validators``): ``split_events`` + ``validate_envelope``.

Input: a ``POST /events`` body. Seeds: bodies of real agent envelopes (``to_envelope``), one
and three events, pretty and compact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import main

with atheris.instrument_imports(include=["agent", "standin_cloud"]):
    from tests.fuzz.test_fuzz_cloud import _dump, _envelope, check_body


def test_one_input(data: bytes) -> None:
    check_body(data)


def seeds() -> Iterator[bytes]:
    ev = _envelope()
    yield _dump({"Events": [ev]})
    yield _dump({"Events": [ev, ev, ev]})
    yield json.dumps({"Events": [ev]}, indent=1).encode()
    yield b'{"Events": []}'


if __name__ == "__main__":
    main("cloud_validators", test_one_input, seeds, max_len=8192)
