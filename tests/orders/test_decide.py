"""The pure decision at exact seconds: validation per type, the engine-stop safety rule,
expiry, cancel. Nothing here reads a clock."""

from __future__ import annotations

from typing import Any

import pytest

from agent.events import CameraId
from agent.orders.decide import (
    Actuate,
    ApplyConfig,
    Cancel,
    Demand,
    Execute,
    Expire,
    Fail,
    Limits,
    Reboot,
    Reject,
    SetFence,
    SetZones,
    Snapshot,
    TargetView,
    Wait,
    WifiAdd,
    decide,
)
from agent.orders.model import Order, OrderStatus, parse_order
from tests.orders.helpers import T0, order_bytes


def mk(kind: str, params: dict[str, Any] | None = None, *, expires: float | None = None,
       ulid: str = "O1") -> Order:
    return parse_order(order_bytes(ulid, kind, params, expires=expires), None)


STOPPED = Snapshot(speed_kmh=0.0)


def test_unknown_type_is_rejected_with_its_name() -> None:
    d = decide(mk("selfdestruct"), STOPPED, T0)
    assert d == Reject("unknown order type 'selfdestruct'")


def test_config_max_speed_is_applied() -> None:
    d = decide(mk("config", {"orders": [{"config": "MAX_SPEED_KMH", "value": 100}]}),
               STOPPED, T0)
    assert d == Execute(ApplyConfig((("MAX_SPEED_KMH", 100),)))


def test_config_refuses_per_key_and_applies_the_rest() -> None:
    d = decide(mk("config", {"orders": [
        {"config": "MAX_SPEED_KMH", "value": 80},
        {"config": "NO_SUCH_KEY", "value": 1},
        {"config": "IDLE_TIMEOUT_S", "value": 1},
        {"config": "DMS_MICROSLEEP_S", "value": 2.0},
    ]}), STOPPED, T0)
    assert isinstance(d, Execute)
    assert d.effect == ApplyConfig(
        (("MAX_SPEED_KMH", 80), ("DMS_MICROSLEEP_S", 2.0)),
        (("NO_SUCH_KEY", "unknown key"), ("IDLE_TIMEOUT_S", "1 out of range 10..7200")))


@pytest.mark.parametrize(("value", "why"), [
    (301, "301 out of range 0..300"),
    (-1, "-1 out of range 0..300"),
    ("100", "'100' is not an int"),
    (100.5, "100.5 is not an int"),
    (True, "True is not an int"),
])
def test_config_out_of_range_or_wrong_type_rejects_the_order(value: Any, why: str) -> None:
    d = decide(mk("config", {"orders": [{"config": "MAX_SPEED_KMH", "value": value}]}),
               STOPPED, T0)
    assert d == Reject(f"MAX_SPEED_KMH: refused ({why})")


def test_config_without_items_is_rejected() -> None:
    assert isinstance(decide(mk("config", {"orders": []}), STOPPED, T0), Reject)
    assert isinstance(decide(mk("config", {}), STOPPED, T0), Reject)


def test_engine_stop_at_walking_pace_executes_with_the_speed() -> None:
    d = decide(mk("command", {"command": "RELAY,1"}), Snapshot(speed_kmh=2.0), T0)
    assert d == Execute(Actuate("relay", 1, "Cut off the fuel supply", "RELAY,1", 2.0))


def test_engine_stop_at_30_kmh_waits_and_says_why_then_runs_when_slow() -> None:
    o = mk("command", {"command": "RELAY,1"}, expires=T0 + 600)
    d = decide(o, Snapshot(speed_kmh=30.0), T0, received_at=T0)
    assert d == Wait("waiting: the engine is stopped only at <= 5 km/h; speed 30 km/h")
    assert isinstance(decide(o, Snapshot(speed_kmh=5.1), T0 + 100, received_at=T0), Wait)
    d = decide(o, Snapshot(speed_kmh=5.0), T0 + 101, received_at=T0)
    assert isinstance(d, Execute)
    assert d.effect == Actuate("relay", 1, "Cut off the fuel supply", "RELAY,1", 5.0)


def test_engine_stop_with_unknown_speed_waits() -> None:
    d = decide(mk("command", {"command": "RELAY,1"}), Snapshot(speed_kmh=None), T0)
    assert isinstance(d, Wait)
    assert "speed is unknown" in d.detail


def test_waiting_engine_stop_expires_at_its_expiry() -> None:
    o = mk("command", {"command": "RELAY,1"}, expires=T0 + 60)
    assert isinstance(decide(o, Snapshot(speed_kmh=50.0), T0 + 59.9, received_at=T0), Wait)
    assert decide(o, Snapshot(speed_kmh=50.0), T0 + 60, received_at=T0) == \
        Expire("expired at 2024-03-12T14:53:00.000Z")


def test_waiting_engine_stop_without_expiry_gives_up_after_max_wait() -> None:
    o = mk("command", {"command": "RELAY,1"})
    lim = Limits(relay_max_wait_s=600)
    assert isinstance(decide(o, Snapshot(speed_kmh=50.0), T0 + 599, lim, received_at=T0), Wait)
    d = decide(o, Snapshot(speed_kmh=50.0), T0 + 600, lim, received_at=T0)
    assert isinstance(d, Fail)
    assert d.reason.startswith("Cut off the fuel supply: Failed!")
    assert "50km/h" in d.reason


def test_restore_engine_and_doors_run_at_any_speed() -> None:
    fast = Snapshot(speed_kmh=90.0)
    for cmd, actuator, level in (("RELAY,0", "relay", 0), ("LOCKDOOR", "door_lock", 1),
                                 ("UNLOCKDOOR", "door_lock", 0)):
        d = decide(mk("command", {"command": cmd}), fast, T0)
        assert isinstance(d, Execute)
        assert isinstance(d.effect, Actuate)
        assert (d.effect.actuator, d.effect.target) == (actuator, level)


def test_reset_command_is_a_reboot_and_unknown_commands_are_rejected() -> None:
    assert decide(mk("command", {"command": "RESET"}), STOPPED, T0) == \
        Execute(Reboot("Reset the device"))
    d = decide(mk("command", {"command": "SELFDESTRUCT"}), STOPPED, T0)
    assert isinstance(d, Reject)
    assert "unsupported command" in d.reason


def test_expired_order_of_any_type_is_expired() -> None:
    assert isinstance(decide(mk("state", expires=T0), STOPPED, T0), Expire)
    assert decide(mk("state", expires=T0 + 1), STOPPED, T0) == \
        Execute(decide(mk("state"), STOPPED, T0).effect)  # type: ignore[union-attr]


def test_an_invalid_expired_order_is_rejected_first() -> None:
    assert isinstance(decide(mk("command", {"command": "X"}, expires=T0), STOPPED, T0), Reject)


def test_demand_video_longer_than_three_minutes_or_backwards_is_rejected() -> None:
    ok = decide(mk("demand.video", {"timeStamp": "2024-03-12T14:52:00Z",
                                    "finalTimeStamp": "2024-03-12T14:55:00Z",
                                    "selectedCam": "driver"}), STOPPED, T0)
    assert ok == Execute(Demand(CameraId.DRIVER, T0, T0 + 180))
    long_ = decide(mk("demand.video", {"timeStamp": "2024-03-12T14:52:00Z",
                                       "finalTimeStamp": "2024-03-12T14:55:01Z",
                                       "selectedCam": "driver"}), STOPPED, T0)
    assert long_ == Reject("video of 181 s asked, at most 180 s")
    back = decide(mk("demand.video", {"timeStamp": "2024-03-12T14:52:00Z",
                                      "finalTimeStamp": "2024-03-12T14:52:00Z",
                                      "selectedCam": "road"}), STOPPED, T0)
    assert back == Reject("finalTimeStamp must be after timeStamp")


def test_demand_image_needs_a_known_camera() -> None:
    assert decide(mk("demand.image", {"timeStamp": "2024-03-12T14:52:00Z",
                                      "selectedCam": "road"}), STOPPED, T0) == \
        Execute(Demand(CameraId.ROAD, T0, None))
    assert decide(mk("demand.image", {"timeStamp": "2024-03-12T14:52:00Z",
                                      "selectedCam": "rear"}), STOPPED, T0) == \
        Reject('selectedCam must be "driver" or "road"')


def test_drivercoach_and_automaticrecognition_become_config_keys() -> None:
    assert decide(mk("drivercoach", {"group": "inertial", "state": "OFF"}), STOPPED, T0) == \
        Execute(ApplyConfig((("DRIVERCOACH_INERTIAL", False),)))
    assert decide(mk("automaticrecognition", {"state": "S"}), STOPPED, T0) == \
        Execute(ApplyConfig((("AUTOMATICRECOGNITION", True),)))
    assert isinstance(decide(mk("drivercoach", {"group": "x", "state": "ON"}), STOPPED, T0),
                      Reject)
    assert isinstance(decide(mk("automaticrecognition", {"state": "Y"}), STOPPED, T0), Reject)


def test_wifi_password_rules_and_no_password_in_repr() -> None:
    d = decide(mk("wifi.add", {"wifiUlid": "W1", "ssid": "depot", "password": "s3cret-pass"}),
               STOPPED, T0)
    assert d == Execute(WifiAdd("W1", "depot", "s3cret-pass"))
    assert "s3cret" not in repr(d)
    short = decide(mk("wifi.add", {"wifiUlid": "W1", "ssid": "depot", "password": "Aa123!"}),
                   STOPPED, T0)
    assert isinstance(short, Reject)
    assert "Aa123" not in short.reason


def test_geofence_circle_radius_is_bounded_and_polygon_needs_three_points() -> None:
    circle = {"id": "f1", "name": "depot", "latitude": 40.4, "longitude": -3.7, "radius": 100,
              "alarmtype": 2}
    d = decide(mk("geofence.set", circle), STOPPED, T0)
    assert isinstance(d, Execute)
    assert isinstance(d.effect, SetFence)
    d = decide(mk("geofence.set", {**circle, "radius": 5001}), STOPPED, T0)
    assert isinstance(d, Reject)
    assert d.reason.startswith("params.radius:")
    d = decide(mk("geofence.set", {"id": "p", "shape": [[0, 0], [0, 1]]}), STOPPED, T0)
    assert isinstance(d, Reject)
    assert "3 distinct points" in d.reason


def test_zones_set_validates_max_speed() -> None:
    zone = {"id": "z1", "shape": [[0, 0], [0, 0.01], [0.01, 0.01]], "max_speed": 20}
    d = decide(mk("zones.set", {"zones": [zone]}), STOPPED, T0)
    assert isinstance(d, Execute)
    assert isinstance(d.effect, SetZones)
    assert d.effect.set_border is False
    d = decide(mk("zones.set", {"zones": [{**zone, "max_speed": 30}]}), STOPPED, T0)
    assert isinstance(d, Reject)
    assert "zones[0].max_speed" in d.reason


def test_unknown_params_are_rejected() -> None:
    d = decide(mk("state", {"now": True}), STOPPED, T0)
    assert d == Reject("unknown parameter(s) now")


def test_cancel_semantics() -> None:
    c = mk("cancel", {"orderUlid": "T1"}, ulid="C1")
    assert decide(c, Snapshot(target=TargetView(OrderStatus.RECEIVED)), T0) == \
        Execute(Cancel("T1", known=True))
    assert decide(c, Snapshot(target=TargetView(None)), T0) == Execute(Cancel("T1", known=False))
    assert decide(c, Snapshot(target=TargetView(OrderStatus.SUCCEEDED)), T0) == \
        Fail("already executed")
    assert decide(c, Snapshot(target=TargetView(OrderStatus.REJECTED)), T0) == \
        Fail("already REJECTED")
    assert decide(c, Snapshot(target=TargetView(OrderStatus.RECEIVED, started=True)), T0) == \
        Fail("already started")
    assert decide(mk("cancel", {"orderUlid": "C1"}, ulid="C1"), STOPPED, T0) == \
        Reject("an order cannot cancel itself")
