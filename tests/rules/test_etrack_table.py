"""docs/rules.md's table of every etrack alarm matches the code and names tests that exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from agent.events import ETRACK_ALARM_TYPE, TelemetryEventType

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "rules.md").read_text()
TESTS = "\n".join(p.read_text() for p in (REPO / "tests").rglob("test_*.py"))


def rows() -> list[list[str]]:
    section = DOC.split("### Every etrack alarm", 1)[1].split("\n### ", 1)[0]
    out = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].isdigit():
            out.append(cells)
    return out


def test_all_27_etrack_alarms_are_in_the_table_once() -> None:
    assert sorted(int(r[0]) for r in rows()) == list(range(1, 28))


def test_each_produced_alarm_carries_its_etrack_number_and_names_a_real_rule_and_test() -> None:
    produced = 0
    for number, name, made, rule, _sensor, test in rows():
        if made == "not produced":
            assert test.startswith("not producible:") and len(test) > 40, name
            continue
        produced += 1
        types = re.findall(r"telemetry (\d+) ([A-Z_]+)", made)
        assert types, name
        for value, member in types:
            kind = TelemetryEventType[member]
            assert int(kind) == int(value)
            assert ETRACK_ALARM_TYPE.get(kind) == int(number), (name, member)
        for dotted in re.findall(r"`([a-z_]+(?:\.[A-Za-z_]+)+)`", rule):
            module, *attrs = dotted.split(".")
            obj: object = importlib.import_module(f"agent.rules.{module}")
            for attr in attrs:
                obj = getattr(obj, attr)
        function = test.strip("`")
        assert re.search(rf"def {re.escape(function)}\(", TESTS), function
    assert produced == 26
