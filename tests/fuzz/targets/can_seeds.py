"""Seed lines for the CAN targets: the property's samples and the lines the CAN tests quote."""

from __future__ import annotations

import re
from functools import cache

from tests.fuzz.targets._harness import ROOT

_QUOTED = re.compile(r'"((?:\([0-9.]+\)\s+)?\S+\s+[0-9A-Fa-f]{3,8}(?:#|\s+\[)[^"]*|[Tt][0-9A-Fa-f]{4,}[^"]*)"')


@cache
def sample_lines() -> list[str]:
    from tests.fuzz.test_fuzz_can import LINES

    found = list(LINES)
    for path in sorted((ROOT / "tests" / "sources" / "can").glob("*.py")):
        found += [m[1] for m in _QUOTED.finditer(path.read_text())]
    return list(dict.fromkeys(found))
