"""The simulated vehicle reads the agent's simulated actuators back: a cut relay stops the
engine and the car, the door lock drives the central locking (so a scenario sees an order)."""

from __future__ import annotations

import json
from pathlib import Path

from agent.sim.runner import ActuatorReadback
from agent.sim.scenario import Scenario
from agent.sim.truth import Actuated, simulate


def drive() -> Scenario:
    return Scenario.model_validate({
        "name": "relay", "duration_s": 60,
        "route": [[43.2389, 76.8897], [43.2600, 76.8897]],
        "plan": [{"t": 1, "ignition": True}, {"t": 2, "speed_kmh": 60}],
    })


def test_a_cut_relay_stops_the_engine_and_the_car_rolls_to_a_stop(tmp_path: Path) -> None:
    state = tmp_path / "actuators.json"
    readback = ActuatorReadback(state)
    by_t = {}
    for tr in simulate(drive(), 0.5, readback.read):
        by_t[tr.t] = tr
        if tr.t == 30.0:  # the agent cuts the fuel supply (the sim backend writes this file)
            state.write_text(json.dumps({"relay": 1, "door_lock": 1}))
    assert by_t[29.5].speed_mps * 3.6 > 55 and by_t[29.5].rpm > 1000
    assert not by_t[29.5].locked
    after = by_t[30.5]
    assert after.rpm == 0.0 and after.locked
    assert by_t[37.0].speed_mps == 0.0  # 60 km/h at 3 m/s² rolls out in ~5.6 s
    assert all(by_t[t].speed_mps == 0.0 for t in (45.0, 60.0))  # and cannot drive off


def test_no_file_or_a_torn_write_leaves_the_plan_in_charge(tmp_path: Path) -> None:
    readback = ActuatorReadback(tmp_path / "missing.json")
    assert readback.read() == Actuated()
    (tmp_path / "torn.json").write_text('{"rel')
    assert ActuatorReadback(tmp_path / "torn.json").read() == Actuated()
    speeds = [tr.speed_mps for tr in simulate(drive(), 1.0, readback.read)]
    assert max(speeds) * 3.6 > 59
