"""Validation of one uploaded V3 envelope (CONTRACT.md §1-2), independent of the agent's encoder.

Only the key list is shared with the agent (``agent.events.ENVELOPE_KEYS``, the seed's 31
keys); types, ranges and the nested objects are checked here from the contract's tables so a
wrong encoder on the device is caught rather than mirrored.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from agent.events import ENVELOPE_KEYS

ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
BUCKETS = frozenset({"v3-device-images", "v3-device-faces", "v3-device-videos"})
FILE_TYPES = frozenset({"image", "video"})
FILE_FEATURES = frozenset({"event", "face"})

_STR = ("accountulid", "ulid", "deviceSource")
_INT = (
    "sequenceNumber", "timestamp", "lastTimestampOfFix", "gpsHeading", "speed", "satellites",
    "odometer", "connectionType", "signalStrength", "mcc", "mnc", "cellID", "locationAreaCode",
    "timingAdvance", "eventType",
)  # fmt: skip
_FLOAT = (
    "latitude", "longitude", "altitude", "hdop", "vdop", "vehicleBatteryVoltage",
    "backupBatteryVoltage",
)  # fmt: skip
_BOOL = ("fixed", "ignitionON")
_NESTED = {1: "telemetryEvent", 2: "visionEvent", 3: "hardwareEvent"}

_TELEMETRY: dict[str, type] = {
    "telemetryEventType": int,
    "maxSpeedExceeded": bool,
    "alarmType": int,
}
_VISION: dict[str, type] = {
    "VisionEventType": int, "VisionTimestamp": int, "Fps": int,
    "NeutralHeadposePitch": float, "NeutralHeadposeYaw": float, "NeutralHeadposeRoll": float,
    "HeadposePitch": float, "HeadposeYaw": float, "HeadposeRoll": float,
    "GazeConfidence": float, "FaceConfidence": float, "MaskConfidence": float,
    "GlassesConfidence": float, "Perclos": float, "BlinksPerMin": float,
    "LeftEyeClosureTime": float, "RightEyeClosureTime": float,
    "MaskDetected": bool, "GlassesDetected": bool, "BoundingBox": dict,
}  # fmt: skip
_BOX: dict[str, type] = {"X": float, "Y": float, "Width": float, "Height": float, "IsDriver": bool}
_HARDWARE: dict[str, type] = {
    "HardwareEventType": int, "HardwareModel": str, "VehicleBatteryConnected": bool, "Pid": str,
    "Version": str, "FirmwareVersion": str, "TimeSinceBoot": int, "Iccid": str,
    "OriginalUlid": str, "Details": str,
}  # fmt: skip


MAX_KEY_BYTES = 1024  # S3's limit for an object key (UTF-8)


def valid_text(value: str) -> bool:
    """A string that is real Unicode: JSON's "\\ud800" escapes parse into lone surrogates,
    which cannot be encoded (UTF-8, SQLite, file names) and would fail far from the input."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def show(value: Any, limit: int = 40) -> str:
    """``value`` for an error message: short, and printable whatever it holds."""
    text = value if isinstance(value, str) else type(value).__name__
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "..."


def _bad_strings(obj: Any) -> bool:
    """Whether any key or string inside ``obj`` is not valid Unicode (iterative: no recursion)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not valid_text(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# Plausible ranges, inclusive. From CONTRACT.md §1 where it gives one (heading, connection type,
# signal, sequence, lat/lon, event types, Perclos/confidences/box 0..1); otherwise chosen as
# physically sensible for a road vehicle and documented in docs/cloud.md ("Value ranges").
MIN_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z: no event of this system is older
FUTURE_SLACK_MS = 86_400_000  # a device clock may run ahead of the cloud's by up to a day
_TOP_RANGES: dict[str, tuple[float, float]] = {
    "speed": (0, 500),  # km/h
    "altitude": (-1000.0, 10_000.0),  # m: Dead Sea shore -430, highest roads ~5,800
    "satellites": (0, 99),  # NMEA's two-digit count
    "hdop": (0.0, 99.99),  # receivers report 99.99 for "no solution"
    "vdop": (0.0, 99.99),
    "odometer": (0, 10_000_000_000),  # m: ten million km
    "vehicleBatteryVoltage": (0.0, 60.0),  # V: 12/24 V systems, 48 V mild hybrids
    "backupBatteryVoltage": (0.0, 60.0),
    "mcc": (0, 999),
    "mnc": (0, 999),
    "cellID": (0, 2**36 - 1),  # 5G NR cell identity is 36 bits (LTE 28)
    "locationAreaCode": (0, 2**24 - 1),  # 5G TAC is 24 bits (LAC/LTE TAC 16)
    "timingAdvance": (0, 4095),  # 5G NR up to 3846 (LTE 1282, GSM 63)
}
_TELEMETRY_RANGES: dict[str, tuple[float, float]] = {
    "telemetryEventType": (1, 26),  # CONTRACT.md §1 table
    "alarmType": (0, 27),  # etrack alarm numbers (004 §2.8)
}
_ANGLE = (-180.0, 180.0)
_UNIT = (0.0, 1.0)
_VISION_RANGES: dict[str, tuple[float, float]] = {
    "VisionEventType": (1, 13),
    "Fps": (0, 1000),
    "NeutralHeadposePitch": _ANGLE, "NeutralHeadposeYaw": _ANGLE, "NeutralHeadposeRoll": _ANGLE,
    "HeadposePitch": _ANGLE, "HeadposeYaw": _ANGLE, "HeadposeRoll": _ANGLE,
    "GazeConfidence": _UNIT, "FaceConfidence": _UNIT, "MaskConfidence": _UNIT,
    "GlassesConfidence": _UNIT, "Perclos": _UNIT,
    "BlinksPerMin": (0.0, 600.0),  # ten a second is beyond any eye
    "LeftEyeClosureTime": (0.0, 86_400.0), "RightEyeClosureTime": (0.0, 86_400.0),  # s
}  # fmt: skip
_BOX_RANGES: dict[str, tuple[float, float]] = {
    "X": _UNIT, "Y": _UNIT, "Width": _UNIT, "Height": _UNIT,
}  # fmt: skip
_HARDWARE_RANGES: dict[str, tuple[float, float]] = {
    "HardwareEventType": (1, 15),
    "TimeSinceBoot": (0, 10 * 365 * 86_400_000),  # ms: ten years of uptime
}


def _check_ranges(where: str, obj: dict[str, Any], ranges: dict[str, tuple[float, float]]) -> None:
    for key, (lo, hi) in ranges.items():
        if not lo <= obj[key] <= hi:  # False for NaN too
            raise InvalidEnvelopeError(f"{where}{key}: out of range {_fmt(lo)}..{_fmt(hi)}")


def _fmt(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _check_time(key: str, value: int, now_ms: int, scale: int = 1, zero_ok: bool = False) -> None:
    """An epoch time (ms, or s with scale 1000) between 2000 and a day after the cloud's now."""
    if zero_ok and value == 0:
        return
    if not MIN_TIME_MS <= value * scale <= now_ms + FUTURE_SLACK_MS:
        raise InvalidEnvelopeError(f"{key}: out of range (2000-01-01 .. now + 1 day)")


def _bad_numbers(obj: Any) -> bool:
    """Whether ``obj`` holds a non-finite number (JSON 1e400 parses as inf; iterative)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class InvalidEnvelopeError(ValueError):
    """One envelope refused; the message goes into ``NotProcess[].Error``."""


def _is(value: Any, kind: type) -> bool:
    if kind is float:  # JSON numbers: an int is a valid float, a bool is not
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check_fields(where: str, obj: dict[str, Any], spec: dict[str, type], exact: bool) -> None:
    for key, kind in spec.items():
        if key not in obj:
            raise InvalidEnvelopeError(f"{where}.{key}: missing")
        if not _is(obj[key], kind):
            raise InvalidEnvelopeError(f"{where}.{key}: must be {kind.__name__}")
    if exact:
        extra = sorted(set(obj) - set(spec))
        if extra:
            raise InvalidEnvelopeError(f"{where}: unknown key {show(extra[0])}")


def _check_files(files: Any) -> list[tuple[str, str]]:
    if not isinstance(files, list):
        raise InvalidEnvelopeError("files: must be a list")
    out: list[tuple[str, str]] = []
    for i, item in enumerate(files):
        if not isinstance(item, dict):
            raise InvalidEnvelopeError(f"files[{i}]: must be an object")
        name, bucket = item.get("filename"), item.get("bucket")
        if not isinstance(name, str) or not name or not safe_key(name):
            raise InvalidEnvelopeError(f"files[{i}].filename: missing or not a safe key")
        # isinstance first: a list or object is unhashable and "in" a set would raise.
        if not isinstance(bucket, str) or bucket not in BUCKETS:
            raise InvalidEnvelopeError(f"files[{i}].bucket: unknown bucket {show(bucket)!r}")
        kind = item.get("type")
        if not isinstance(kind, str) or kind not in FILE_TYPES:
            raise InvalidEnvelopeError(f"files[{i}].type: must be image or video")
        feature = item.get("feature", "event")
        if not isinstance(feature, str) or feature not in FILE_FEATURES:
            raise InvalidEnvelopeError(f"files[{i}].feature: must be event or face")
        extra = sorted(set(item) - {"filename", "bucket", "type", "feature"})
        if extra:
            raise InvalidEnvelopeError(f"files[{i}]: unknown key {show(extra[0])}")
        out.append((bucket, name))
    return out


def safe_key(key: str) -> bool:
    """An object key without path tricks: not absolute, no empty/``.``/``..`` part, no backslash
    or NUL, valid Unicode and at most 1024 bytes. (Objects are stored under a hash of the key,
    so a key never becomes a path; these rules keep keys sane for the agent and the read API.)"""
    if key.startswith("/") or "\\" in key or "\x00" in key or not valid_text(key):
        return False
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


def validate_envelope(ev: Any, now_ms: int | None = None) -> list[tuple[str, str]]:
    """Raise :class:`InvalidEnvelopeError` unless ``ev`` is an envelope; return its files.

    ``now_ms`` is the cloud's clock (default: now), the reference for "not in the future".
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if not isinstance(ev, dict):
        raise InvalidEnvelopeError("event: must be an object")
    missing = [k for k in ENVELOPE_KEYS if k not in ev]
    if missing:
        raise InvalidEnvelopeError(f"{missing[0]}: missing")
    if len(ev) != len(ENVELOPE_KEYS):
        extra = sorted(set(ev) - set(ENVELOPE_KEYS))
        raise InvalidEnvelopeError(f"{show(extra[0])}: unknown key")
    if _bad_strings(ev):
        raise InvalidEnvelopeError("event: strings must be valid Unicode (lone surrogate)")
    for key in _STR:
        if not isinstance(ev[key], str) or not ev[key]:
            raise InvalidEnvelopeError(f"{key}: must be a non-empty string")
    for key in _INT:
        if not _is(ev[key], int):
            raise InvalidEnvelopeError(f"{key}: must be an integer")
    for key in _FLOAT:
        if not _is(ev[key], float):
            raise InvalidEnvelopeError(f"{key}: must be a number")
    for key in _BOOL:
        if not isinstance(ev[key], bool):
            raise InvalidEnvelopeError(f"{key}: must be a boolean")
    if not ULID_RE.match(ev["ulid"]):
        raise InvalidEnvelopeError("ulid: not a ULID")
    if not ULID_RE.match(ev["accountulid"]):
        raise InvalidEnvelopeError("accountulid: not a ULID")
    ds = ev["deviceSource"]
    if not (ds.isascii() and ds.isalnum()) or len(ds) > 32:  # isalnum alone accepts "٣"
        raise InvalidEnvelopeError("deviceSource: must be letters and digits (an IMEI)")
    if not 0 <= ev["sequenceNumber"] < 1 << 32:
        raise InvalidEnvelopeError("sequenceNumber: out of range 0..2^32-1")
    _check_time("timestamp", ev["timestamp"], now_ms)
    _check_time("lastTimestampOfFix", ev["lastTimestampOfFix"], now_ms, zero_ok=True)
    _check_ranges("", ev, _TOP_RANGES)
    if not -90.0 <= ev["latitude"] <= 90.0:
        raise InvalidEnvelopeError("latitude: out of range")
    if not -180.0 <= ev["longitude"] <= 180.0:
        raise InvalidEnvelopeError("longitude: out of range")
    if not 0 <= ev["gpsHeading"] <= 359:
        raise InvalidEnvelopeError("gpsHeading: out of range 0..359")
    if not 0 <= ev["connectionType"] <= 6:
        raise InvalidEnvelopeError("connectionType: out of range 0..6")
    if not 0 <= ev["signalStrength"] <= 100:
        raise InvalidEnvelopeError("signalStrength: out of range 0..100")
    kind = ev["eventType"]
    if kind not in _NESTED:
        raise InvalidEnvelopeError("eventType: must be 1, 2 or 3")
    for k, name in _NESTED.items():
        obj = ev[name]
        if not isinstance(obj, dict):
            raise InvalidEnvelopeError(f"{name}: must be an object")
        if k != kind and obj:
            raise InvalidEnvelopeError(f"{name}: must be {{}} for eventType {kind}")
    nested = ev[_NESTED[kind]]
    if kind == 1:
        _check_fields("telemetryEvent", nested, _TELEMETRY, exact=False)  # extras documented
        _check_ranges("telemetryEvent.", nested, _TELEMETRY_RANGES)
    elif kind == 2:
        _check_fields("visionEvent", nested, _VISION, exact=True)
        _check_fields("visionEvent.BoundingBox", nested["BoundingBox"], _BOX, exact=True)
        _check_ranges("visionEvent.", nested, _VISION_RANGES)
        _check_ranges("visionEvent.BoundingBox.", nested["BoundingBox"], _BOX_RANGES)
        _check_time("visionEvent.VisionTimestamp", nested["VisionTimestamp"], now_ms, 1000)
    else:
        _check_fields("hardwareEvent", nested, _HARDWARE, exact=True)
        _check_ranges("hardwareEvent.", nested, _HARDWARE_RANGES)
    if _bad_numbers(ev):  # what the ranges above do not cover: documented telemetry extras
        raise InvalidEnvelopeError("event: numbers must be finite")
    return _check_files(ev["files"])
