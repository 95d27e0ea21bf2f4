"""The seed's own curl examples (``000_*.txt``), read from the seed and replayed with httpx.

Nothing is hand-copied: method, path, headers and body come from the seed text, so the tests
follow the seed. Only the host is replaced by the stand-in cloud's loopback URL.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

SEED_HOST = "https://v3mock.apiv3.com"


@dataclass
class Curl:
    method: str = "GET"
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None

    @property
    def path(self) -> str:
        return self.url.removeprefix(SEED_HOST)


def seed_text(shared: Path) -> str:
    return next((shared / "seeds").glob("000_*.txt")).read_text(encoding="utf-8")


def _parse(words: list[str]) -> Curl:
    curl = Curl()
    it = iter(words[1:])
    for word in it:
        if word in ("--request", "-X"):
            curl.method = next(it)
        elif word == "--url":
            curl.url = next(it)
        elif word in ("--header", "-H"):
            name, _, value = next(it).partition(":")
            curl.headers[name.strip()] = value.strip()
        elif word in ("--body", "--data", "-d"):
            curl.body = next(it)
        elif word.startswith("http"):
            curl.url = word
    return curl


def find_curl(text: str, path: str) -> Curl:
    """The first curl command in the seed whose URL ends with ``path``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("curl "):
            continue
        block: list[str] = []
        for nxt in lines[i:]:
            block.append(nxt)
            joined = "\n".join(block).replace("\\\n", " ")
            try:
                words = shlex.split(joined)
            except ValueError:  # a quote still open: the body goes on
                continue
            if not nxt.rstrip().endswith("\\"):
                break
        curl = _parse(words)
        if curl.url.endswith(path):
            return curl
    raise LookupError(f"no curl example for {path} in the seed")
