"""Inputs tried per parser (read by ``scripts/fuzz`` after the run)."""

from __future__ import annotations

from collections import Counter

TRIED: Counter[str] = Counter()


def tried(parser: str) -> None:
    TRIED[parser] += 1
