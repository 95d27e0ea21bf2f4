"""The environment (``config_env``): ``load_config`` with any ``EDGE_AGENT_*`` variables.

Input: 1 header byte (FuzzedDataProvider: whether config/agent.toml is loaded too), then lines
``NAME=VALUE`` as UTF-8 (invalid bytes replaced); each NAME gets the ``EDGE_AGENT_`` prefix
(other names are not the agent's), NUL is dropped (no environment holds it). Seeds: one line
per real setting (``SECTION__FIELD``) and whole sections as JSON.
"""

from __future__ import annotations

from collections.abc import Iterator

import atheris

from tests.fuzz.targets._harness import header, main

with atheris.instrument_imports(include=["agent"]):
    from tests.fuzz.test_fuzz_config import PATHS, check_config_env

VALUES = ["1", "0", "-1", "true", "nan", "DEBUG", "/dev/ttyUSB0", "http://127.0.0.1:8080",
          "{}", "[1,", "1e26", " "]


def test_one_input(data: bytes) -> None:
    fdp, text = header(data, 1)
    env: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").replace("\0", "").split("\n"):
        name, _, value = line.partition("=")
        env["EDGE_AGENT_" + name] = value
    check_config_env(env, fdp.ConsumeBool())


def seeds() -> Iterator[bytes]:
    for i, path in enumerate(PATHS):
        yield bytes([i % 2]) + ("__".join(path).upper() + "=" + VALUES[i % len(VALUES)]).encode()
    sections = sorted({p[0] for p in PATHS if len(p) > 1})
    for s in sections:
        yield b"\0" + f"{s.upper()}={{}}".encode()


if __name__ == "__main__":
    main("config_env", test_one_input, seeds, max_len=1024)
