"""Pure telemetry rules: timestamped inputs in, events out; no clock reads, no I/O."""

from agent.rules.base import Group, RuleOutput
from agent.rules.engine import EVENT_GROUP, TelemetryEngine
from agent.rules.geofence import (
    BorderActions,
    CircleGeofence,
    GeofenceSet,
    NetworkBorder,
    PolygonGeofence,
    SpeedZone,
)
from agent.rules.settings import RuleThresholds

__all__ = [
    "EVENT_GROUP",
    "BorderActions",
    "CircleGeofence",
    "GeofenceSet",
    "Group",
    "NetworkBorder",
    "PolygonGeofence",
    "RuleOutput",
    "RuleThresholds",
    "SpeedZone",
    "TelemetryEngine",
]
