"""Order messages (``orders``): ``parse_order`` with and without an order key and a clock.

Input: 2 header bytes (FuzzedDataProvider: order key or none, the "now" of the age check),
then the message bytes. Seeds: the property's valid and signed orders, each with and without
the key.
"""

from __future__ import annotations

from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import header, main

with atheris.instrument_imports(include=["agent"]):
    from tests.fuzz.test_fuzz_orders import KEY, SAMPLES, check_order

KEYS: list[bytes | None] = [None, KEY]
NOWS: list[float | None] = [None, 1_767_225_600.0, 1e18, -1e18]


def test_one_input(data: bytes) -> None:
    fdp, payload = header(data, 2)
    check_order(payload, fdp.PickValueInList(KEYS), fdp.PickValueInList(NOWS))


def seeds() -> Iterator[bytes]:
    for s in SAMPLES:
        for h in (b"\0\0", b"\x01\x01", b"\x01\x00", b"\x00\x01"):
            yield h + s


if __name__ == "__main__":
    main("orders", test_one_input, seeds, max_len=2048)
