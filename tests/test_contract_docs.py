"""docs/contract.md lists exactly the enumerations that agent/events.py emits."""

from __future__ import annotations

import re
from enum import IntEnum
from pathlib import Path

import pytest

from agent.events import (
    ETRACK_ALARM_TYPE,
    ConnectionType,
    EventType,
    HardwareEventType,
    Priority,
    TelemetryEventType,
    VisionEventType,
)

DOC = Path(__file__).resolve().parent.parent / "docs" / "contract.md"


def _table(title: str) -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in section.splitlines() if re.match(r"^\| \d", r)]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows]


@pytest.mark.parametrize(
    ("title", "enum"),
    [("eventType", EventType), ("VisionEventType", VisionEventType),
     ("HardwareEventType", HardwareEventType), ("connectionType", ConnectionType)],
)  # fmt: skip
def test_doc_table_matches_enum(title: str, enum: type[IntEnum]) -> None:
    assert [(int(v), n) for v, n in _table(title)] == [(int(m), m.name) for m in enum]


def test_telemetry_table_matches_enum_and_etrack_alarms() -> None:
    rows = _table("telemetryEventType")
    assert [(int(v), n, int(a)) for v, n, a in rows] == [
        (int(m), m.name, ETRACK_ALARM_TYPE.get(m, 0)) for m in TelemetryEventType
    ]


def test_priority_lanes_documented() -> None:
    rows = _table("Outbox priority lanes (lower drains first)")
    assert [(int(v), n) for v, n in rows] == [(int(m), m.name) for m in Priority]
