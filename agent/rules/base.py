"""What every telemetry rule looks like: timestamped inputs in, :class:`RuleOutput` out.

A rule sees each input after the vehicle state has folded it in (``on_input``) and is asked to
evaluate its time-driven conditions at the state's ``now`` after every input and every tick
(``on_tick``), so a debounce fires at the first input or tick at or after its deadline.
Rules never read a clock and never do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from agent.events import HardwareDetail, TelemetryDetail, TelemetryEventType
from agent.rules.settings import RuleThresholds
from agent.vehicle.inputs import StateInput
from agent.vehicle.state import VehicleState


class Group(StrEnum):
    """Drivercoach groups (CONTRACT.md §4): an order switches a group's events on or off."""

    TELEMETRY = "telemetry"
    INERTIAL = "inertial"
    TRACKING = "tracking"


@dataclass(frozen=True, slots=True)
class RuleOutput:
    """One event a rule decided on: when it happened and its kind-specific detail."""

    t: float
    detail: TelemetryDetail | HardwareDetail


class Rule:
    """Base class; override what the rule needs."""

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        return []

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        return []


class Debounce:
    """A condition that must hold continuously for ``hold_s`` before it counts.

    ``update(t, cond, hold_s)`` returns True exactly once per episode: at the first call where
    the condition has held for ``hold_s``. ``since`` is when the current episode began.
    """

    __slots__ = ("fired", "since")

    def __init__(self) -> None:
        self.since: float | None = None
        self.fired = False

    def update(self, t: float, cond: bool, hold_s: float) -> bool:
        if not cond:
            self.since = None
            self.fired = False
            return False
        if self.since is None:
            self.since = t
        if not self.fired and t - self.since >= hold_s:
            self.fired = True
            return True
        return False

    def reset(self) -> None:
        self.since = None
        self.fired = False


def telemetry(
    t: float, kind: TelemetryEventType, extra: Mapping[str, object] | None = None
) -> RuleOutput:
    """Shorthand for a telemetry output with documented extra fields."""
    return RuleOutput(t, TelemetryDetail(kind, extra=dict(extra or {})))
