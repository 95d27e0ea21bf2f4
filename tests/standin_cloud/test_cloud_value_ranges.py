"""Values outside the contract's (or, where it has none, docs/cloud.md's) ranges are refused."""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from backbone_factory import IDENTITY, stats, telemetry, vision_with_files
from standin_cloud import CloudServer

from agent.events import Event, HardwareDetail, HardwareEventType, to_envelope

Envelope = dict[str, Any]
YEAR_33658_MS = 1_000_000_000_000_000  # what the fault campaign stored


def _envelopes() -> list[Envelope]:
    vision, _ = vision_with_files(2, random.Random(0))
    vision = Event(vision.timestamp_ms, vision.context, vision.detail)  # no files to upload
    hardware = Event(
        timestamp_ms=telemetry(3).timestamp_ms,
        context=telemetry(3).context,
        detail=HardwareDetail(HardwareEventType.AGENT_STARTED, time_since_boot_ms=5000),
    )
    return [to_envelope(e, IDENTITY, i) for i, e in enumerate([telemetry(1), vision, hardware])]


def _top(key: str, value: Any) -> tuple[int, Callable[[Envelope], None]]:
    return 0, lambda e: e.__setitem__(key, value)


def _in(which: int, obj: str, key: str, value: Any) -> tuple[int, Callable[[Envelope], None]]:
    return which, lambda e: e[obj].__setitem__(key, value)


def _box(key: str, value: Any) -> tuple[int, Callable[[Envelope], None]]:
    return 1, lambda e: e["visionEvent"]["BoundingBox"].__setitem__(key, value)


OUT_OF_RANGE: dict[str, tuple[tuple[int, Callable[[Envelope], None]], str]] = {
    "timestamp in year 33658": (_top("timestamp", YEAR_33658_MS), "timestamp"),
    "timestamp 2 days ahead": (
        _top("timestamp", int(time.time() * 1000) + 2 * 86_400_000),
        "timestamp",
    ),
    "timestamp 1970": (_top("timestamp", 1000), "timestamp"),
    "timestamp 10**30": (_top("timestamp", 10**30), "timestamp"),
    "fix in the future": (_top("lastTimestampOfFix", YEAR_33658_MS), "lastTimestampOfFix"),
    "negative speed": (_top("speed", -50), "speed"),
    "speed 5000": (_top("speed", 5000), "speed"),
    "altitude 1e308": (_top("altitude", 1e308), "altitude"),
    "altitude -1e308": (_top("altitude", -1e308), "altitude"),
    "altitude inf": (_top("altitude", "INF"), "altitude"),
    "hdop negative": (_top("hdop", -1.0), "hdop"),
    "vdop huge": (_top("vdop", 1e9), "vdop"),
    "satellites 500": (_top("satellites", 500), "satellites"),
    "odometer negative": (_top("odometer", -1), "odometer"),
    "odometer 10**30": (_top("odometer", 10**30), "odometer"),
    "battery 1e6 V": (_top("vehicleBatteryVoltage", 1e6), "vehicleBatteryVoltage"),
    "backup battery negative": (_top("backupBatteryVoltage", -4.0), "backupBatteryVoltage"),
    "mcc 5000": (_top("mcc", 5000), "mcc"),
    "mnc negative": (_top("mnc", -1), "mnc"),
    "cellID 2**40": (_top("cellID", 2**40), "cellID"),
    "lac 2**30": (_top("locationAreaCode", 2**30), "locationAreaCode"),
    "timing advance negative": (_top("timingAdvance", -3), "timingAdvance"),
    "heading 639": (_top("gpsHeading", 639), "gpsHeading"),
    "telemetry type 0": (_in(0, "telemetryEvent", "telemetryEventType", 0), "telemetryEventType"),
    "telemetry type 99": (_in(0, "telemetryEvent", "telemetryEventType", 99), "telemetryEventType"),
    "alarm type -1": (_in(0, "telemetryEvent", "alarmType", -1), "alarmType"),
    "extra inf": (_in(0, "telemetryEvent", "peakAccelerationMs2", "INF"), "finite"),
    "vision type 14": (_in(1, "visionEvent", "VisionEventType", 14), "VisionEventType"),
    "vision time year 33658": (
        _in(1, "visionEvent", "VisionTimestamp", YEAR_33658_MS),
        "VisionTimestamp",
    ),
    "perclos 2": (_in(1, "visionEvent", "Perclos", 2.0), "Perclos"),
    "confidence -0.5": (_in(1, "visionEvent", "FaceConfidence", -0.5), "FaceConfidence"),
    "yaw 1e308": (_in(1, "visionEvent", "HeadposeYaw", 1e308), "HeadposeYaw"),
    "fps negative": (_in(1, "visionEvent", "Fps", -1), "Fps"),
    "eye closure negative": (
        _in(1, "visionEvent", "LeftEyeClosureTime", -1.0),
        "LeftEyeClosureTime",
    ),
    "box width 3": (_box("Width", 3.0), "Width"),
    "hardware type 0": (_in(2, "hardwareEvent", "HardwareEventType", 0), "HardwareEventType"),
    "time since boot negative": (_in(2, "hardwareEvent", "TimeSinceBoot", -5), "TimeSinceBoot"),
}


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_out_of_range_values_are_refused(
    cloud: CloudServer, auth: dict[str, str], case: str
) -> None:
    (which, mutate), field = OUT_OF_RANGE[case]
    envs = _envelopes()
    bad = copy.deepcopy(envs[which])
    mutate(bad)
    # "INF" stands for 1e400: valid JSON syntax that Python parses as float("inf").
    text = json.dumps({"Events": [bad]}).replace('"INF"', "1e400").encode()
    r = httpx.post(f"{cloud.url}/events", headers=auth, content=text)
    assert r.status_code == 200, r.text
    [refused] = r.json()["NotProcess"]
    assert refused["ulid"] == bad["ulid"]
    assert field in refused["Error"] and refused["Error"].endswith("(error Aplication)")
    assert stats(cloud.url)["events"] == 0


def test_values_at_the_edges_of_the_ranges_are_accepted(
    cloud: CloudServer, auth: dict[str, str]
) -> None:
    t, v, h = _envelopes()
    t.update(
        speed=0, altitude=-400.5, satellites=0, hdop=99.99, odometer=0, gpsHeading=359,
        timestamp=int(time.time() * 1000) + 3_600_000,  # a device clock an hour ahead
        lastTimestampOfFix=0, mcc=999, cellID=2**36 - 1,
    )  # fmt: skip
    v["visionEvent"].update(Perclos=1.0, HeadposeYaw=-180.0, FaceConfidence=0.0)
    h["hardwareEvent"]["TimeSinceBoot"] = 0
    r = httpx.post(f"{cloud.url}/events", headers=auth, json={"Events": [t, v, h]})
    assert r.status_code == 200 and r.json() == {"NotProcess": None}
    assert stats(cloud.url)["events"] == 3
