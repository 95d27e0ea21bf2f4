"""Scenario files: TOML and JSON load alike; mistakes are one readable line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.sim import load_scenario
from tests.scenarios.harness import DATA


def test_shipped_scenarios_load_and_toml_equals_json(tmp_path: Path) -> None:
    sc = load_scenario(DATA / "city_drive.toml")
    assert sc.name == "city drive"
    assert sc.start_epoch == 1710230400.0
    as_json = tmp_path / "city.json"
    as_json.write_text(json.dumps(sc.model_dump(mode="json")))
    assert load_scenario(as_json) == sc
    assert load_scenario(DATA / "faults.toml").unplug[0].source == "gnss"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("duration_s = 10\n", "route: Field required"),
        ("duration_s = 10\nroute = [[0, 0]]\n[[power_cut]]\nstart = 5\nend = 4\n",
         "power_cut.0: Value error, end must be after start"),
        ("duration_s = 10\nroute = [[0, 0]]\n[[harsh]]\nt = 1\nkind = 'drift'\nms2 = 3\n"
         "duration_s = 1\n", "harsh.0.kind"),
        ("duration_s = 10\nroute = [[0, 0]]\nbogus = 1\n", "bogus: Extra inputs"),
        ("duration_s = = 10\n", "Invalid value"),
    ],
)  # fmt: skip
def test_bad_scenarios_are_refused_with_the_field(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_scenario(p)
