"""Vehicle simulator: scenario files rendered to NMEA, SLCAN and power inputs on real ptys."""

from agent.sim.clock import ScaledClock
from agent.sim.pure import run_scenario, scenario_readings
from agent.sim.runner import PowerFiles, ScenarioPlayer
from agent.sim.scenario import Scenario, load_scenario
from agent.sim.truth import Truth, simulate

__all__ = [
    "PowerFiles",
    "ScaledClock",
    "Scenario",
    "ScenarioPlayer",
    "Truth",
    "load_scenario",
    "run_scenario",
    "scenario_readings",
    "simulate",
]
