"""Inputs of the vehicle state that do not come from the vehicle sources.

The sources hand over :data:`agent.sources.readings.Reading`; the network monitor and the
actuators report with these two, timestamped by the shell the same way (epoch seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.events import ConnectionType
from agent.sources.readings import Reading


@dataclass(frozen=True, slots=True)
class NetworkStatus:
    """The modem / network link as last seen (envelope ``connectionType`` .. ``timingAdvance``)."""

    t: float
    online: bool
    connection_type: ConnectionType = ConnectionType.UNKNOWN
    signal_pct: int = 0  # 0 = unknown
    mcc: int = 0
    mnc: int = 0
    cell_id: int = 0
    location_area_code: int = 0
    timing_advance: int = 0


@dataclass(frozen=True, slots=True)
class RelayStatus:
    """The fuel-cut relay (etrack ``RELAY,1``/``RELAY,0``): ``fuel_cut`` True = engine stopped."""

    t: float
    fuel_cut: bool


StateInput = Reading | NetworkStatus | RelayStatus
