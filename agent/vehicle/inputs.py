"""Inputs of the vehicle state that do not come from the vehicle sources.

The sources hand over :data:`agent.sources.readings.Reading`; the network monitor and the
actuators report with these two, timestamped by the shell the same way (epoch seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.events import NO_CELL, CellLink
from agent.sources.readings import Reading


@dataclass(frozen=True, slots=True)
class NetworkStatus:
    """The modem / network link as last seen; ``cell`` is what the envelope carries of it."""

    t: float
    online: bool
    cell: CellLink = NO_CELL


@dataclass(frozen=True, slots=True)
class RelayStatus:
    """The fuel-cut relay (etrack ``RELAY,1``/``RELAY,0``): ``fuel_cut`` True = engine stopped."""

    t: float
    fuel_cut: bool


StateInput = Reading | NetworkStatus | RelayStatus
