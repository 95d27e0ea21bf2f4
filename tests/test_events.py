"""The envelope for each kind matches the seed's examples field for field (CONTRACT.md §1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.events import (
    ENVELOPE_KEYS,
    BoundingBox,
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
    derived_key,
    file_key,
    to_envelope,
)
from agent.sources.readings import FixMode, GnssFix
from agent.ulid import is_ulid, ulid_timestamp_ms
from tests.seed_examples import seed_events

IDENTITY = DeviceIdentity(
    device_source="862798050833538",
    account_ulid="01GRV1H4FBZSTJJ75PHYPWAMD5",
    model="JC400P",
    firmware_version="2.0",
    version="1.0",
    iccid="1234567890123456789",
)
FIX = GnssFix(1675945050.0, 1675945050000, FixMode.FIX_3D, lat=-23.329572, lon=-51.178328,
              alt=639.18, hdop=0.66, vdop=0.34, satellites_used=16)
CONTEXT = VehicleContext(
    fix=FIX, heading=0, speed_kmh=32, fixed=True, ignition_on=True, odometer_m=272347,
    vehicle_battery_v=13.989, backup_battery_v=4.1, cell=CellLink(ConnectionType.G4),
)  # fmt: skip


def _files(ulid: str) -> tuple[FileRef, ...]:
    return (
        FileRef(file_key(IDENTITY, ulid, CameraId.ROAD), Bucket.IMAGES, feature=FileFeature.EVENT),
        FileRef(file_key(IDENTITY, ulid, CameraId.DRIVER), Bucket.FACES, feature=FileFeature.FACE),
    )


def _make(kind: str) -> dict[str, Any]:
    t = 1675945051006
    if kind == "TelemetryEvent":
        detail: Any = TelemetryDetail(TelemetryEventType.PERIODIC_POSITION, max_speed_exceeded=True)
    elif kind == "VisionEvent":
        detail = VisionDetail(VisionEventType.DISTRACTION, vision_timestamp_s=t // 1000, fps=30,
                              box=BoundingBox(0.4, 0.3, 0.2, 0.25, True))  # fmt: skip
    else:
        detail = HardwareDetail(HardwareEventType.AGENT_STARTED, time_since_boot_ms=12000)
    event = Event(timestamp_ms=t, context=CONTEXT, detail=detail)
    event = Event(t, CONTEXT, detail, files=_files(event.ulid), ulid=event.ulid)
    # Through JSON and back: what the cloud sees, not the Python objects.
    return json.loads(json.dumps(to_envelope(event, IDENTITY, 13)))  # type: ignore[no-any-return]


def _shape(value: Any) -> Any:
    """Keys and JSON types, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {k.rstrip(":"): _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


@pytest.mark.parametrize("kind", ["TelemetryEvent", "VisionEvent", "HardwareEvent"])
def test_envelope_has_the_seed_examples_keys_types_and_nesting(shared_dir: Path, kind: str) -> None:
    ours = _make(kind)
    for seed in seed_events(shared_dir)[kind]:
        assert list(ours) == list(seed), "top-level keys and order as in the seed"
        expected = _shape(seed)
        got = _shape(ours)
        # files[]: the seed's hardware example uses "type": "event" and omits "feature";
        # the contract (§2) fixes type image|video and feature event|face.
        expected.pop("files"), got.pop("files")
        # Contract additions inside the nested objects (alarmType) are allowed; the seed's are all there.
        for nested in ("telemetryEvent", "visionEvent", "hardwareEvent"):
            seed_keys = set(expected[nested])
            assert seed_keys <= set(got[nested]), f"{nested} lacks {seed_keys - set(got[nested])}"
            for key in seed_keys:
                assert got[nested][key] == expected[nested][key], f"{nested}.{key} type"
            expected.pop(nested), got.pop(nested)
        assert got == expected


def test_unused_nested_objects_are_empty_and_event_type_is_set() -> None:
    tel, vis, hw = _make("TelemetryEvent"), _make("VisionEvent"), _make("HardwareEvent")
    assert (tel["eventType"], vis["eventType"], hw["eventType"]) == (1, 2, 3)
    assert tel["visionEvent"] == {} and tel["hardwareEvent"] == {}
    assert vis["telemetryEvent"] == {} and vis["hardwareEvent"] == {}
    assert hw["telemetryEvent"] == {} and hw["visionEvent"] == {}
    assert tuple(tel) == ENVELOPE_KEYS


def test_mask_and_glasses_confidence_have_no_colon() -> None:
    vision = _make("VisionEvent")["visionEvent"]
    assert "MaskConfidence" in vision and "GlassesConfidence" in vision
    assert not any(k.endswith(":") for k in vision)


def test_ulid_time_part_is_the_event_timestamp() -> None:
    env = _make("TelemetryEvent")
    assert is_ulid(env["ulid"])
    assert ulid_timestamp_ms(env["ulid"]) == env["timestamp"]


def test_ulids_are_unique_for_events_in_the_same_millisecond() -> None:
    ulids = {Event(1_700_000_000_000, CONTEXT, TelemetryDetail(TelemetryEventType.SOS)).ulid
             for _ in range(1000)}  # fmt: skip
    assert len(ulids) == 1000


def test_sequence_number_wraps_at_2_pow_32() -> None:
    event = Event(1, CONTEXT, TelemetryDetail(TelemetryEventType.SOS))
    assert to_envelope(event, IDENTITY, (1 << 32) + 5)["sequenceNumber"] == 5


def test_telemetry_alarm_type_follows_the_etrack_table() -> None:
    assert _make("TelemetryEvent")["telemetryEvent"]["alarmType"] == 0
    assert TelemetryDetail(TelemetryEventType.SPEEDING_STARTED).to_wire()["alarmType"] == 7
    assert TelemetryDetail(TelemetryEventType.HARSH_BRAKING).to_wire()["alarmType"] == 24


def test_file_keys_follow_the_contract() -> None:
    env = _make("VisionEvent")
    road, driver = env["files"]
    assert road["filename"] == f"{IDENTITY.account_ulid}/{IDENTITY.device_source}/{env['ulid']}_cam0.png"
    assert (road["bucket"], road["type"], road["feature"]) == ("v3-device-images", "image", "event")
    assert (driver["bucket"], driver["feature"]) == ("v3-device-faces", "face")
    assert derived_key(driver["filename"], "filecrop").endswith("_cam1_filecrop.png")


def test_priority_lanes_put_alarms_first_and_periodic_positions_last() -> None:
    def prio(detail: Any) -> Priority:
        return Event(1, CONTEXT, detail).priority

    assert prio(TelemetryDetail(TelemetryEventType.HARSH_BRAKING)) == Priority.ALARM
    assert prio(TelemetryDetail(TelemetryEventType.PERIODIC_POSITION)) == Priority.PERIODIC
    assert prio(HardwareDetail(HardwareEventType.POWER_DISCONNECTED)) < prio(
        VisionDetail(VisionEventType.DROWSINESS, 1)
    )
