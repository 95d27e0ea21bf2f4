"""Stand-in cloud authentication (``cloud_auth``): the ``/auth/token`` body and the token.

Input: the ``Authorization`` token (first line, UTF-8, invalid bytes replaced), then the token
request body. Seeds: a valid token (fixed clock) and credential bodies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import main

with atheris.instrument_imports(include=["agent", "standin_cloud"]):
    from tests.fuzz.test_fuzz_cloud import CLIENT_ID, CLIENT_SECRET, TOKEN, check_auth


def test_one_input(data: bytes) -> None:
    token, _, body = data.partition(b"\n")
    check_auth(body, token.decode("utf-8", "replace"))


def seeds() -> Iterator[bytes]:
    body = json.dumps({"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}).encode()
    yield TOKEN.encode() + b"\n" + body
    yield b"\n" + body
    yield TOKEN.encode() + b"\n" + b'{"clientId":"a","clientSecret":"b"}{"x":1}'


if __name__ == "__main__":
    main("cloud_auth", test_one_input, seeds, max_len=2048)
