"""THE V3 event envelope and its enumerations (CONTRACT.md §1-2), in one place.

Producers build an :class:`Event` (a timestamp, a snapshot of the vehicle, one kind-specific
detail and the files it names). The outbox gives it its ``sequenceNumber`` when it is stored
and serialises it with :func:`to_envelope`, which emits exactly the seed's envelope: the 28
top-level fields, all three nested objects (the two unused ones ``{}``), the seed's key casing,
and ``MaskConfidence``/``GlassesConfidence`` without the seed's stray colon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any, Final

from agent.ulid import new_ulid

if TYPE_CHECKING:  # agent.sources.readings imports this module (CellLink)
    from agent.sources.readings import GnssFix

JsonDict = dict[str, Any]


class EventType(IntEnum):
    TELEMETRY = 1
    VISION = 2
    HARDWARE = 3


class TelemetryEventType(IntEnum):
    PERIODIC_POSITION = 1
    FORCED_POSITION = 2
    IGNITION_ON = 3
    IGNITION_OFF = 4
    SPEEDING_STARTED = 5
    SPEEDING_ENDED = 6
    HARSH_ACCELERATION = 7
    HARSH_BRAKING = 8
    HARSH_CORNERING = 9
    IDLING = 10
    GEOFENCE_ENTER = 11
    GEOFENCE_EXIT = 12
    SPEED_ZONE_ENTER = 13
    SPEED_ZONE_EXIT = 14
    GNSS_LOST = 15
    GNSS_RESTORED = 16
    MOVING_IGNITION_OFF = 17
    COLLISION = 18
    DOOR_OPENED = 19
    DOOR_CLOSED = 20
    SOS = 21
    LEFT_NETWORK_BORDER = 22
    OBD_TROUBLE_CODE = 23
    OVER_REVVING = 24
    FUEL_DROP = 25
    GNSS_JAMMING = 26
    # Motion sensor and tamper (issue 10); the contract's table ends at 26, docs/contract.md
    # and docs/rules.md carry these.
    VIBRATION = 27
    DROP = 28
    VEHICLE_LIFTED = 29
    VEHICLE_FALLEN = 30
    TAMPER = 31
    # Tyres (J1939 TIRE) and the cellular network (issue 10 part B); docs/contract.md carries
    # them. 27-31 are the motion sensor's and tamper's (part A).
    TYRE_TEMPERATURE = 32
    TYRE_LEAK = 33
    TYRE_LOW_PRESSURE = 34
    TYRE_HIGH_PRESSURE = 35
    NETWORK_LOST = 36
    NETWORK_RESTORED = 37
    # etrack's power alarms as telemetry, each beside its hardware event (which has no alarm
    # number): low battery (etrack 2), power disconnected (3), power off (19).
    LOW_BATTERY_ALARM = 38
    POWER_DISCONNECT_ALARM = 39
    POWER_OFF_ALARM = 40


# etrack alarm numbers (seed 004 §2.8) per telemetry event type; 0 where none applies.
ETRACK_ALARM_TYPE: Final[Mapping[TelemetryEventType, int]] = {
    TelemetryEventType.IGNITION_ON: 9,
    TelemetryEventType.IGNITION_OFF: 10,
    TelemetryEventType.SPEEDING_STARTED: 7,
    TelemetryEventType.HARSH_ACCELERATION: 23,
    TelemetryEventType.HARSH_BRAKING: 24,
    TelemetryEventType.HARSH_CORNERING: 25,
    TelemetryEventType.GEOFENCE_ENTER: 5,
    TelemetryEventType.GEOFENCE_EXIT: 6,
    TelemetryEventType.GNSS_LOST: 15,
    TelemetryEventType.GNSS_RESTORED: 16,
    TelemetryEventType.MOVING_IGNITION_OFF: 8,
    TelemetryEventType.COLLISION: 20,
    TelemetryEventType.DOOR_OPENED: 26,
    TelemetryEventType.DOOR_CLOSED: 27,
    TelemetryEventType.SOS: 1,
    TelemetryEventType.LEFT_NETWORK_BORDER: 6,
    TelemetryEventType.OBD_TROUBLE_CODE: 17,
    TelemetryEventType.VIBRATION: 4,
    TelemetryEventType.DROP: 21,
    TelemetryEventType.VEHICLE_FALLEN: 21,  # etrack dropAlarm: a two-wheeler "fall" alarm
    TelemetryEventType.TAMPER: 18,
    TelemetryEventType.TYRE_TEMPERATURE: 11,
    TelemetryEventType.TYRE_LEAK: 12,
    TelemetryEventType.TYRE_LOW_PRESSURE: 13,
    TelemetryEventType.TYRE_HIGH_PRESSURE: 14,
    TelemetryEventType.LOW_BATTERY_ALARM: 2,
    TelemetryEventType.POWER_DISCONNECT_ALARM: 3,
    TelemetryEventType.POWER_OFF_ALARM: 19,
}


class VisionEventType(IntEnum):
    DROWSINESS = 1
    MICROSLEEP = 2
    SLEEP = 3
    DISTRACTION = 4
    REPEATED_GLANCES = 5
    YAWNING = 6
    NO_DRIVER = 7
    CAMERA_BLOCKED = 8
    FACE_CAPTURE = 9
    DEMAND_IMAGE = 10
    DEMAND_VIDEO = 11
    PHONE_USE = 12
    SMOKING = 13


class HardwareEventType(IntEnum):
    AGENT_STARTED = 1
    AGENT_STOPPING = 2
    POWER_DISCONNECTED = 3
    POWER_RESTORED = 4
    LOW_VEHICLE_BATTERY = 5
    LOW_BACKUP_BATTERY = 6
    GNSS_FAULT = 7
    CAN_FAULT = 8
    CAMERA_FAULT = 9
    MODEL_FAULT = 10
    STORAGE_FAULT = 11
    TAMPER = 12
    ORDER_EXECUTED = 13
    SOFTWARE_UPDATED = 14
    CLOCK_JUMP = 15


class ConnectionType(IntEnum):
    UNKNOWN = 0
    ETHERNET = 1
    WIFI = 2
    G2 = 3
    G3 = 4
    G4 = 5
    G5 = 6


class Bucket(StrEnum):
    IMAGES = "v3-device-images"
    FACES = "v3-device-faces"
    VIDEOS = "v3-device-videos"


class FileKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class FileFeature(StrEnum):
    EVENT = "event"
    FACE = "face"


class Priority(IntEnum):
    """Outbox lanes: lower drains first; periodic positions are evicted first, alarms never."""

    ALARM = 0
    HARDWARE = 1
    VISION = 2
    TELEMETRY = 3
    PERIODIC = 4


class CameraId(IntEnum):
    """Which camera (CONTRACT §2): its number is the ``camN`` in file keys and component names."""

    ROAD = 0  # cam0
    DRIVER = 1  # cam1

    @property
    def label(self) -> str:
        return f"cam{self.value}"


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Who the device is; stamped on every envelope (and on hardware events)."""

    device_source: str
    account_ulid: str
    model: str = "EA-1"
    firmware_version: str = "0.1.0"
    version: str = "1.0"
    iccid: str = ""


@dataclass(frozen=True, slots=True)
class CellLink:
    """The cellular link as the envelope carries it (``connectionType`` .. ``timingAdvance``).

    One value for the modem's report, the network status and the event snapshot; 0 = not
    known. ``signal_pct`` is the envelope's ``signalStrength`` (ModemManager's normalisation of
    ``+CSQ``); ``location_area_code`` is the LAC (2G/3G) or the TAC (4G/5G).
    """

    connection_type: ConnectionType = ConnectionType.UNKNOWN
    signal_pct: int = 0
    mcc: int = 0
    mnc: int = 0
    cell_id: int = 0
    location_area_code: int = 0
    timing_advance: int = 0

    def signal_only(self) -> CellLink:
        """Not registered: the signal is still measured, the network fields mean nothing."""
        return CellLink(signal_pct=self.signal_pct)

    def to_wire(self) -> JsonDict:
        return {
            "connectionType": int(self.connection_type),
            "signalStrength": self.signal_pct,
            "mcc": self.mcc,
            "mnc": self.mnc,
            "cellID": self.cell_id,
            "locationAreaCode": self.location_area_code,
            "timingAdvance": self.timing_advance,
        }


NO_CELL: Final = CellLink()  # nothing known of the link (no modem, or not reported yet)


@dataclass(frozen=True, slots=True)
class VehicleContext:
    """The vehicle as it was when the event happened (the envelope's common fields).

    ``fix`` is the last valid GNSS fix: the envelope's ``lastTimestampOfFix``, ``latitude`` ..
    ``vdop`` come from it (0 while there is none), and ``fixed`` says whether it is current.
    Speed and heading stand beside it: they are fused (CAN before GNSS; course kept while
    stopped). ``cell`` is the cellular link.
    """

    fix: GnssFix | None = None
    fixed: bool = False
    heading: int = 0
    speed_kmh: int = 0
    ignition_on: bool = False
    odometer_m: int = 0
    vehicle_battery_v: float = 0.0
    backup_battery_v: float = 0.0
    cell: CellLink = NO_CELL


@dataclass(frozen=True, slots=True)
class FileRef:
    """One ``files[]`` item. ``filename`` is the key inside ``bucket`` (CONTRACT.md §2)."""

    filename: str
    bucket: Bucket
    kind: FileKind = FileKind.IMAGE
    feature: FileFeature | None = None

    def to_wire(self) -> JsonDict:
        item: JsonDict = {
            "filename": self.filename,
            "bucket": str(self.bucket),
            "type": str(self.kind),
        }
        if self.feature is not None:
            item["feature"] = str(self.feature)
        return item


def file_key(identity: DeviceIdentity, event_ulid: str, camera: CameraId, ext: str = "png") -> str:
    """``{accountulid}/{deviceSource}/{eventUlid}_cam{N}.{ext}``."""
    return f"{identity.account_ulid}/{identity.device_source}/{event_ulid}_cam{int(camera)}.{ext}"


def derived_key(key: str, suffix: str) -> str:
    """``…_cam1.png`` → ``…_cam1_thumbnail.png`` / ``…_cam1_filecrop.png``."""
    stem, dot, ext = key.rpartition(".")
    return f"{stem}_{suffix}.{ext}" if dot else f"{key}_{suffix}"


@dataclass(frozen=True, slots=True)
class TelemetryDetail:
    event_type: TelemetryEventType
    max_speed_exceeded: bool = False
    # Documented extra fields (e.g. peakAccelerationMs2, durationS, geofenceId), wire-named.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def alarm_type(self) -> int:
        return ETRACK_ALARM_TYPE.get(self.event_type, 0)

    def to_wire(self) -> JsonDict:
        out: JsonDict = {
            "telemetryEventType": int(self.event_type),
            "maxSpeedExceeded": self.max_speed_exceeded,
            "alarmType": self.alarm_type,
        }
        out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class BoundingBox:
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0
    is_driver: bool = True


@dataclass(frozen=True, slots=True)
class HeadAngles:
    """A head pose in degrees, as ``visionEvent`` carries it twice (the driver's neutral pose
    and the current one)."""

    pitch: float = 0.0
    yaw: float = 0.0
    roll: float = 0.0

    def to_wire(self, prefix: str) -> JsonDict:
        return {f"{prefix}Pitch": self.pitch, f"{prefix}Yaw": self.yaw, f"{prefix}Roll": self.roll}


@dataclass(frozen=True, slots=True)
class VisionDetail:
    event_type: VisionEventType
    vision_timestamp_s: int
    fps: int = 0
    neutral: HeadAngles = HeadAngles()  # NeutralHeadpose*: where this driver looks at the road
    head: HeadAngles = HeadAngles()  # Headpose*
    gaze_confidence: float = 0.0
    face_confidence: float = 0.0
    mask_confidence: float = 0.0
    glasses_confidence: float = 0.0
    perclos: float = 0.0
    blinks_per_min: float = 0.0
    left_eye_closure_s: float = 0.0
    right_eye_closure_s: float = 0.0
    mask_detected: bool = False
    glasses_detected: bool = False
    box: BoundingBox = field(default_factory=BoundingBox)

    def to_wire(self) -> JsonDict:
        return {
            "VisionEventType": int(self.event_type),
            "VisionTimestamp": self.vision_timestamp_s,
            "Fps": self.fps,
            **self.neutral.to_wire("NeutralHeadpose"),
            **self.head.to_wire("Headpose"),
            "GazeConfidence": self.gaze_confidence,
            "FaceConfidence": self.face_confidence,
            "MaskConfidence": self.mask_confidence,
            "GlassesConfidence": self.glasses_confidence,
            "Perclos": self.perclos,
            "BlinksPerMin": self.blinks_per_min,
            "LeftEyeClosureTime": self.left_eye_closure_s,
            "RightEyeClosureTime": self.right_eye_closure_s,
            "MaskDetected": self.mask_detected,
            "GlassesDetected": self.glasses_detected,
            "BoundingBox": {
                "X": self.box.x,
                "Y": self.box.y,
                "Width": self.box.width,
                "Height": self.box.height,
                "IsDriver": self.box.is_driver,
            },
        }


@dataclass(frozen=True, slots=True)
class HardwareDetail:
    event_type: HardwareEventType
    time_since_boot_ms: int = 0
    vehicle_battery_connected: bool = True
    pid: str = ""
    original_ulid: str = ""
    details: str = ""
    # The SIM's ICCID as the modem read it (the engine stamps it); "" = the configured one.
    iccid: str = ""

    def to_wire(self, identity: DeviceIdentity) -> JsonDict:
        return {
            "HardwareEventType": int(self.event_type),
            "HardwareModel": identity.model,
            "VehicleBatteryConnected": self.vehicle_battery_connected,
            "Pid": self.pid,
            "Version": identity.version,
            "FirmwareVersion": identity.firmware_version,
            "TimeSinceBoot": self.time_since_boot_ms,
            "Iccid": self.iccid or identity.iccid,
            "OriginalUlid": self.original_ulid,
            "Details": self.details,
        }


Detail = TelemetryDetail | VisionDetail | HardwareDetail

# Alarm-like telemetry (everything but positions) shares the alarm lane.
_POSITION_TYPES = frozenset(
    {TelemetryEventType.PERIODIC_POSITION, TelemetryEventType.FORCED_POSITION}
)


@dataclass(frozen=True, slots=True)
class Event:
    """One event as produced; ``sequenceNumber`` is given by the outbox when stored."""

    timestamp_ms: int
    context: VehicleContext
    detail: Detail
    files: tuple[FileRef, ...] = ()
    ulid: str = ""

    def __post_init__(self) -> None:
        if not self.ulid:
            object.__setattr__(self, "ulid", new_ulid(self.timestamp_ms))

    @property
    def event_type(self) -> EventType:
        if isinstance(self.detail, TelemetryDetail):
            return EventType.TELEMETRY
        if isinstance(self.detail, VisionDetail):
            return EventType.VISION
        return EventType.HARDWARE

    @property
    def priority(self) -> Priority:
        d = self.detail
        if isinstance(d, TelemetryDetail):
            if d.event_type == TelemetryEventType.PERIODIC_POSITION:
                return Priority.PERIODIC
            return Priority.TELEMETRY if d.event_type in _POSITION_TYPES else Priority.ALARM
        if isinstance(d, VisionDetail):
            return Priority.VISION
        return Priority.HARDWARE


def to_envelope(event: Event, identity: DeviceIdentity, sequence_number: int) -> JsonDict:
    """The exact V3 envelope of CONTRACT.md §1 (key order as in the seed's examples)."""
    c = event.context
    d = event.detail
    fix_ms, lat, lon, alt, satellites, hdop, vdop = _fix_fields(c.fix)
    return {
        "accountulid": identity.account_ulid,
        "ulid": event.ulid,
        "deviceSource": identity.device_source,
        "sequenceNumber": sequence_number % (1 << 32),
        "timestamp": event.timestamp_ms,
        "lastTimestampOfFix": fix_ms,
        "latitude": lat,
        "longitude": lon,
        "altitude": alt,
        "gpsHeading": c.heading,
        "speed": c.speed_kmh,
        "satellites": satellites,
        "fixed": c.fixed,
        "hdop": hdop,
        "vdop": vdop,
        "ignitionON": c.ignition_on,
        "odometer": c.odometer_m,
        "vehicleBatteryVoltage": c.vehicle_battery_v,
        "backupBatteryVoltage": c.backup_battery_v,
        **c.cell.to_wire(),
        "eventType": int(event.event_type),
        "files": [f.to_wire() for f in event.files],
        "telemetryEvent": d.to_wire() if isinstance(d, TelemetryDetail) else {},
        "visionEvent": d.to_wire() if isinstance(d, VisionDetail) else {},
        "hardwareEvent": d.to_wire(identity) if isinstance(d, HardwareDetail) else {},
    }


def _fix_fields(fix: GnssFix | None) -> tuple[int, float, float, float, int, float, float]:
    """``lastTimestampOfFix``, latitude, longitude, altitude, satellites, hdop, vdop of the
    last valid fix; 0 for what it did not say (or without one)."""
    if fix is None:
        return 0, 0.0, 0.0, 0.0, 0, 0.0, 0.0
    lat, lon, alt, hdop, vdop = (
        0.0 if v is None else v for v in (fix.lat, fix.lon, fix.alt, fix.hdop, fix.vdop)
    )
    return fix.epoch_ms, lat, lon, alt, fix.satellites_used, hdop, vdop


# Top-level envelope keys, in the seed's order; tests and the stand-in cloud validate with it.
ENVELOPE_KEYS: Final[tuple[str, ...]] = (
    "accountulid", "ulid", "deviceSource", "sequenceNumber", "timestamp", "lastTimestampOfFix",
    "latitude", "longitude", "altitude", "gpsHeading", "speed", "satellites", "fixed", "hdop",
    "vdop", "ignitionON", "odometer", "vehicleBatteryVoltage", "backupBatteryVoltage",
    "connectionType", "signalStrength", "mcc", "mnc", "cellID", "locationAreaCode",
    "timingAdvance", "eventType", "files", "telemetryEvent", "visionEvent", "hardwareEvent",
)  # fmt: skip
