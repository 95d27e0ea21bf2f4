"""The config file (``config_file``): ``load_config`` on any bytes as the TOML file.

Input: the file's bytes (the environment holds no ``EDGE_AGENT_*`` variable). Seeds: every ``config/*.toml`` of the repository.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import ROOT, main

with atheris.instrument_imports(include=["agent"]):
    from tests.fuzz.test_fuzz_config import check_config_file


def test_one_input(data: bytes) -> None:
    check_config_file(data, clean_env=True)


def seeds() -> Iterator[bytes]:
    for path in sorted((ROOT / "config").glob("*.toml")):
        yield path.read_bytes()


if __name__ == "__main__":
    for name in [k for k in os.environ if k.upper().startswith("EDGE_AGENT_")]:
        del os.environ[name]  # once, for the whole run (the property patches it per input)
    main("config_file", test_one_input, seeds, max_len=8192)
