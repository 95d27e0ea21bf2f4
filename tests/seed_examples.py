"""The V3 seed's example events (``000_*.txt``), repaired into JSON so tests compare against them.

The seed's examples are not valid JSON (missing commas, keys with a stray colon); this reads
the blocks that follow the ``TelemetryEvent`` / ``VisionEvent`` / ``HardwareEvent`` captions
and inserts the missing commas. Nothing is hand-copied, so the tests follow the seed itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_CAPTIONS = ("TelemetryEvent", "VisionEvent", "HardwareEvent")
_NEEDS_COMMA = re.compile(r'([\]}"\w.])\s*\n(\s*")')


def seed_file(shared: Path) -> Path:
    return next((shared / "seeds").glob("000_*.txt"))


def _blocks(text: str) -> list[tuple[str, str]]:
    lines = text.splitlines()
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        caption = lines[i].strip()
        if caption in _CAPTIONS and i + 1 < len(lines) and lines[i + 1].strip() == "{":
            depth, body = 0, []
            for line in lines[i + 1 :]:
                body.append(line)
                depth += line.count("{") - line.count("}")
                if depth == 0:
                    break
            out.append((caption, "\n".join(body)))
            i += len(body)
        i += 1
    return out


def seed_events(shared: Path) -> dict[str, list[dict[str, Any]]]:
    """Every example event of the seed, by caption (first occurrence of each caption first)."""
    found: dict[str, list[dict[str, Any]]] = {c: [] for c in _CAPTIONS}
    for caption, body in _blocks(seed_file(shared).read_text(encoding="utf-8")):
        repaired = _NEEDS_COMMA.sub(r"\1,\n\2", body)
        doc = json.loads(repaired)
        found[caption].extend(doc["Events"])
    return found
