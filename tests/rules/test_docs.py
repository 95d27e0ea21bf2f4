"""docs/rules.md lists every RuleThresholds key with its default and range."""

from __future__ import annotations

import re
from pathlib import Path

from agent.rules import RuleThresholds
from agent.rules.engine import EVENT_GROUP

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def _rows(section: str) -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8").split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in r.strip("|").split("|")] for r in text.splitlines()
            if r.startswith("| `")]  # fmt: skip


def _bounds(field: str) -> tuple[float | None, float | None]:
    lo = hi = None
    for m in RuleThresholds.model_fields[field].metadata:
        lo = getattr(m, "ge", None) if getattr(m, "ge", None) is not None else lo
        lo = getattr(m, "gt", None) if getattr(m, "gt", None) is not None else lo
        hi = getattr(m, "le", None) if getattr(m, "le", None) is not None else hi
    return lo, hi


def test_threshold_table_matches_the_settings() -> None:
    rows = _rows("5. Thresholds (`[rules]`, `agent/rules/settings.py::RuleThresholds`)")
    documented = {r[0].strip("`"): r for r in rows}
    assert sorted(documented) == sorted(f.upper() for f in RuleThresholds.model_fields)
    defaults = RuleThresholds()
    for field in RuleThresholds.model_fields:
        key, default, rng, _ = documented[field.upper()]
        value = getattr(defaults, field)
        if isinstance(value, bool):
            assert default == str(value).lower(), key
            continue
        assert float(default) == round(float(value), 3), key
        lo, hi = _bounds(field)
        m = re.fullmatch(r">?([\d.]+)\.\.([\d.]+)", rng)
        assert m is not None, (key, rng)
        assert float(m.group(1)) == round(float(lo or 0), 3), key
        assert float(m.group(2)) == round(float(hi or 0), 1), key


def test_group_table_matches_the_engine() -> None:
    text = DOC.read_text(encoding="utf-8")
    for event, group in EVENT_GROUP.items():
        row = next(ln for ln in text.splitlines() if ln.startswith(f"| `{group}` |"))
        assert f"({int(event)}" in row or f", {int(event)}" in row or f"{int(event)})" in row, (
            event, row)  # fmt: skip
