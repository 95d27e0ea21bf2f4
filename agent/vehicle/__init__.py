"""Vehicle state fusion: readings in, one consistent picture of the vehicle out."""

from agent.vehicle.inputs import NetworkStatus, RelayStatus, StateInput
from agent.vehicle.odometer import GnssOdometer, JsonOdometerStore, OdometerStore
from agent.vehicle.settings import FusionSettings
from agent.vehicle.state import VehicleState

__all__ = [
    "FusionSettings",
    "GnssOdometer",
    "JsonOdometerStore",
    "NetworkStatus",
    "OdometerStore",
    "RelayStatus",
    "StateInput",
    "VehicleState",
]
