"""Realistic events for the outbox tests, the crash child and the benchmark."""

from __future__ import annotations

from agent.events import (
    Bucket,
    CameraId,
    CellLink,
    ConnectionType,
    DeviceIdentity,
    Event,
    FileFeature,
    FileRef,
    HardwareDetail,
    HardwareEventType,
    Priority,
    TelemetryDetail,
    TelemetryEventType,
    VehicleContext,
    VisionDetail,
    VisionEventType,
    file_key,
)
from agent.sources.readings import FixMode, GnssFix

IDENTITY = DeviceIdentity(
    device_source="862798050833538",
    account_ulid="01GXRRKM43W02X5JZDSMZHAJJY",
    model="EA-1",
    firmware_version="0.1.0",
    iccid="8934071100000000001",
)
T0 = 1_700_000_000_000


def context(i: int = 0) -> VehicleContext:
    """A full vehicle snapshot, varied per event like a moving vehicle's."""
    fix_ms = T0 + i * 1000
    fix = GnssFix(fix_ms / 1000, fix_ms, FixMode.FIX_3D, lat=40.416775 + i * 1e-5,
                  lon=-3.703790 - i * 1e-5, alt=657.3, hdop=0.9, vdop=1.3, satellites_used=11)
    return VehicleContext(
        fix=fix, heading=(i * 7) % 360, speed_kmh=40 + i % 60, fixed=True, ignition_on=True,
        odometer_m=123_456_789 + i * 12, vehicle_battery_v=13.82, backup_battery_v=4.1,
        cell=CellLink(ConnectionType.G4, 71, 214, 7, cell_id=123_456, location_area_code=2801,
                      timing_advance=3),
    )  # fmt: skip


def telemetry(i: int, kind: TelemetryEventType = TelemetryEventType.PERIODIC_POSITION) -> Event:
    return Event(T0 + i, context(i), TelemetryDetail(kind))


def periodic(i: int) -> Event:
    return telemetry(i, TelemetryEventType.PERIODIC_POSITION)


def alarm(i: int) -> Event:
    return telemetry(i, TelemetryEventType.HARSH_BRAKING)


def forced(i: int) -> Event:
    return telemetry(i, TelemetryEventType.FORCED_POSITION)


def hardware(i: int) -> Event:
    return Event(T0 + i, context(i), HardwareDetail(HardwareEventType.POWER_DISCONNECTED))


def vision(i: int, *, with_file: bool = False) -> Event:
    ts = T0 + i
    e = Event(ts, context(i), VisionDetail(VisionEventType.DROWSINESS, vision_timestamp_s=ts // 1000,
                                           fps=15, perclos=0.31))
    if not with_file:
        return e
    ref = FileRef(file_key(IDENTITY, e.ulid, CameraId.DRIVER), Bucket.FACES, feature=FileFeature.FACE)
    return Event(e.timestamp_ms, e.context, e.detail, files=(ref,), ulid=e.ulid)


BY_LANE = {
    Priority.ALARM: alarm,
    Priority.HARDWARE: hardware,
    Priority.VISION: vision,
    Priority.TELEMETRY: forced,
    Priority.PERIODIC: periodic,
}
