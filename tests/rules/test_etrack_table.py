"""docs/rules.md's table of every etrack alarm matches the code and names tests that exist.

Each row: etrack number, alarm name (seed 004 §2.8), what the agent produces ("telemetry N
MEMBER" ... or "not produced"), the rule (backticked ``module.Attr`` under ``agent.rules``), the
sensor, and the tests that prove it (backticked function names; each telemetry type of the row is
named in at least one of them) or, when not produced, "not producible: <reason>".
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from agent.events import ETRACK_ALARM_TYPE, TelemetryEventType

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "rules.md").read_text()
SEED_REQUIREMENTS = REPO.parent / "shared" / "SEED-REQUIREMENTS.md"


def _aliases(tree: ast.Module) -> dict[str, set[str]]:
    """Module-level names bound to enum members (``ENTER, EXIT = T.GEOFENCE_ENTER, ...``)."""
    out: dict[str, set[str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        pairs = (
            zip(target.elts, value.elts, strict=False)
            if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
            else [(target, value)]
        )
        for name, expr in pairs:
            if isinstance(name, ast.Name):
                attrs = {n.attr for n in ast.walk(expr) if isinstance(n, ast.Attribute)}
                out[name.id] = attrs
    return out


def _test_bodies() -> dict[str, str]:
    """Every test function in tests/ -> its source, module-level aliases of members spelled out."""
    out: dict[str, str] = {}
    for path in (REPO / "tests").rglob("test_*.py"):
        text = path.read_text()
        tree = ast.parse(text)
        aliases = _aliases(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                body = ast.get_source_segment(text, node) or ""
                used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                spelled = [m for alias in used & aliases.keys() for m in aliases[alias]]
                out[node.name] = "\n".join([body, *spelled])
    return out


TESTS = _test_bodies()


def rows() -> list[list[str]]:
    section = DOC.split("### Every etrack alarm", 1)[1].split("\n### ", 1)[0]
    out = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].isdigit():
            out.append(cells)
    return out


def produced_types(made: str) -> list[TelemetryEventType]:
    out = []
    for value, member in re.findall(r"telemetry (\d+) ([A-Z_]+)", made):
        kind = TelemetryEventType[member]
        assert int(kind) == int(value), (value, member)
        out.append(kind)
    return out


def test_all_27_etrack_alarms_are_in_the_table_once() -> None:
    assert sorted(int(r[0]) for r in rows()) == list(range(1, 28))


def test_the_alarm_names_are_the_seeds() -> None:
    if not SEED_REQUIREMENTS.exists():
        pytest.skip("../shared/SEED-REQUIREMENTS.md is not beside the repository")
    section = SEED_REQUIREMENTS.read_text().split("### 5.6", 1)[1].split("\n### ", 1)[0]
    seed = {int(n): name for n, name in re.findall(r"\| (\d+) \| (\w+) ", section)}
    assert sorted(seed) == list(range(1, 28))
    assert {int(r[0]): r[1] for r in rows()} == seed


def test_each_produced_alarm_carries_its_etrack_number_and_names_a_real_rule_and_test() -> None:
    produced = 0
    for number, name, made, rule, _sensor, test in rows():
        if made == "not produced":
            assert test.startswith("not producible:") and len(test) > 40, name
            continue
        produced += 1
        kinds = produced_types(made)
        assert kinds, name
        for kind in kinds:
            assert ETRACK_ALARM_TYPE.get(kind) == int(number), (name, kind.name)
        names = [n for cell in re.findall(r"`([^`]+)`", rule) for n in cell.split(", ")]
        assert names, name
        for dotted in names:
            module, *attrs = dotted.split(".")
            assert attrs, dotted
            obj: object = importlib.import_module(f"agent.rules.{module}")
            for attr in attrs:
                obj = getattr(obj, attr)
        functions = re.findall(r"`(test_\w+)`", test)
        assert functions, name
        for function in functions:
            assert function in TESTS, function
        for kind in kinds:
            assert any(re.search(rf"\b{kind.name}\b", TESTS[f]) for f in functions), (
                f"etrack {number}: none of {functions} names {kind.name}"
            )
    assert produced == 26


def test_every_telemetry_type_with_an_etrack_number_is_in_its_row() -> None:
    made = {int(r[0]): set(produced_types(r[2])) for r in rows()}
    for kind, number in ETRACK_ALARM_TYPE.items():
        if number:
            assert kind in made[number], (kind.name, number)
