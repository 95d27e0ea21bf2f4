"""Orders end to end over a real broker started by the test: acknowledgement, execution
once, redelivery, offline queueing, reconcile, the engine-stop rule, refusals.

Every test runs twice, unchanged: against mosquitto and against NATS's MQTT endpoint
(``nats-server`` with JetStream), two independent broker implementations."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.events import HardwareEventType
from agent.orders.model import MAX_ORDER_BYTES
from tests.orders.broker import BROKERS, MqttBroker, make_broker
from tests.orders.harness import Cloud, Device, FakePorts
from tests.orders.helpers import KEY, order_dict

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MqttBroker]:
    b = make_broker(request.param, tmp_path / "broker")
    b.start()
    yield b
    b.stop()


def now_order(ulid: str, kind: str, params: dict[str, Any] | None = None, *,
              expires_in: float | None = None) -> dict[str, Any]:
    t = time.time()
    return order_dict(ulid, kind, params, issued=t,
                      expires=None if expires_in is None else t + expires_in)


def executed_events(dev: Device, ulid: str) -> list[str]:
    return [e.detail.details for e in dev.ports.events  # type: ignore[union-attr]
            if e.detail.event_type == HardwareEventType.ORDER_EXECUTED
            and e.detail.original_ulid == ulid]  # type: ignore[union-attr]


async def until(predicate: Any, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def connected(dev: Device, cloud: Cloud) -> None:
    """The device is online and subscribed to its orders. (Not "the cloud saw orders/sync": a
    cloud that subscribes after the device connected never sees that non-retained message.)"""
    await cloud.wait_for(lambda: any(p.get("online") for p in cloud.of("presence")))
    await cloud.wait_for(lambda: dev.link.connected)


async def test_an_order_is_acknowledged_received_then_succeeded(tmp_path: Path,
                                                                broker: MqttBroker) -> None:
    async with Cloud(broker.port) as cloud, Device(tmp_path / "dev", broker.url) as dev:
        await connected(dev, cloud)
        await cloud.send(now_order("C1", "config",
                                   {"orders": [{"config": "MAX_SPEED_KMH", "value": 100}]}))
        await cloud.wait_for(lambda: ("SUCCEEDED", "MAX_SPEED_KMH=100: applied")
                             in cloud.statuses("C1"))
        assert cloud.statuses("C1") == [("RECEIVED", ""),
                                        ("SUCCEEDED", "MAX_SPEED_KMH=100: applied")]
        assert dev.ports.thresholds.max_speed_kmh == 100
        assert executed_events(dev, "C1") == ["MAX_SPEED_KMH=100: applied"]
        await cloud.wait_for(lambda: any(p["version"] == 1 and
                                         p["config"]["MAX_SPEED_KMH"] == 100
                                         for p in cloud.of("config/reported")))


async def test_a_redelivered_order_gets_its_recorded_status_and_runs_once(
        tmp_path: Path, broker: MqttBroker) -> None:
    async with Cloud(broker.port) as cloud, Device(tmp_path / "dev", broker.url) as dev:
        await connected(dev, cloud)
        order = now_order("L1", "command", {"command": "LOCKDOOR"})
        await cloud.send(order)
        await cloud.wait_for(lambda: len(cloud.statuses("L1")) == 2)
        await cloud.send(order)
        await cloud.send(order)
        await cloud.wait_for(lambda: len(cloud.statuses("L1")) == 4)
        text = "Lock the door: Success! Speed: 0km/h."
        assert cloud.statuses("L1") == [("RECEIVED", ""), ("SUCCEEDED", text),
                                        ("SUCCEEDED", text), ("SUCCEEDED", text)]
        assert executed_events(dev, "L1") == [text]
        assert dev.actuator_state()["door_lock"] == 1


async def test_statuses_queued_while_the_broker_is_down_arrive_in_order_after_it_returns(
        tmp_path: Path, broker: MqttBroker) -> None:
    dev_dir = tmp_path / "dev"
    async with Device(dev_dir, broker.url) as dev:
        async with Cloud(broker.port) as cloud:
            await connected(dev, cloud)
        broker.stop()
        await asyncio.sleep(0.3)
        assert not dev.link.connected
        # Orders journaled while offline (as a restart would find them): their statuses wait.
        for i in range(5):
            await dev.executor.on_order(json.dumps(now_order(f"Q{i}", "state")).encode())
        await asyncio.sleep(0.5)
        queued = [(json.loads(m.payload)["orderUlid"], json.loads(m.payload)["status"])
                  for m in dev.journal.pending(100)]
        assert len(queued) == 10
        assert dev.link.health.state.value in ("degraded", "down")
        assert "broker 127.0.0.1" in dev.link.health.detail
        broker.start()
        async with Cloud(broker.port) as cloud:
            await cloud.wait_for(lambda: len(cloud.statuses()) >= 10, timeout=15)
            got = [(p["orderUlid"], p["status"]) for p in cloud.of("orders/status")]
        assert got == queued  # exactly the queue, in its order
        assert [g for g in got if g[1] == "RECEIVED"] == [(f"Q{i}", "RECEIVED") for i in range(5)]
        assert [g for g in got if g[1] == "SUCCEEDED"] == [(f"Q{i}", "SUCCEEDED")
                                                            for i in range(5)]
        assert dev.ports.positions == 5
        # the device forgets them once its PUBACKs are in (the cloud may see them a moment earlier)
        await until(lambda: dev.journal.queued() == 0)


async def test_reconcile_publishes_sync_with_the_open_orders(tmp_path: Path,
                                                             broker: MqttBroker) -> None:
    ports = FakePorts(speed=40.0)
    async with Cloud(broker.port) as cloud:
        async with Device(tmp_path / "dev", broker.url, ports=ports) as dev:
            await connected(dev, cloud)
            await cloud.send(now_order("R1", "command", {"command": "RELAY,1"}))
            await cloud.wait_for(lambda: cloud.statuses("R1"))
        syncs_before = len(cloud.of("orders/sync"))
        async with Device(tmp_path / "dev", broker.url, ports=ports) as dev:
            await cloud.wait_for(lambda: len(cloud.of("orders/sync")) > syncs_before)
            sync = cloud.of("orders/sync")[-1]
            assert sync["open"] == ["R1"]
            assert sync["lastOrderUlid"] == "R1"
            # the cloud re-publishes what it does not hold as terminal: executed once
            await cloud.send(now_order("R1", "command", {"command": "RELAY,1"}))
            ports.speed = 0.0
            await cloud.wait_for(lambda: any(s == "SUCCEEDED" for s, _ in cloud.statuses("R1")))
            assert executed_events(dev, "R1") == ["Cut off the fuel supply: Success! Speed: 0km/h."]


async def test_engine_stop_at_30_kmh_waits_then_runs_when_the_vehicle_slows(
        tmp_path: Path, broker: MqttBroker) -> None:
    ports = FakePorts(speed=30.0)
    async with Cloud(broker.port) as cloud, \
            Device(tmp_path / "dev", broker.url, ports=ports) as dev:
        await connected(dev, cloud)
        await cloud.send(now_order("E1", "command", {"command": "RELAY,1"}, expires_in=60))
        await cloud.wait_for(lambda: len(cloud.statuses("E1")) >= 2)
        assert cloud.statuses("E1")[1] == (
            "RECEIVED", "waiting: the engine is stopped only at <= 5 km/h; speed 30 km/h")
        await asyncio.sleep(0.5)
        assert dev.actuator_state().get("relay") != 1
        ports.speed = 3.0
        await cloud.wait_for(lambda: any(s == "SUCCEEDED" for s, _ in cloud.statuses("E1")))
        assert cloud.statuses("E1")[-1] == ("SUCCEEDED",
                                            "Cut off the fuel supply: Success! Speed: 3km/h.")
        assert dev.actuator_state()["relay"] == 1


async def test_a_restore_supersedes_a_waiting_engine_stop(tmp_path: Path,
                                                          broker: MqttBroker) -> None:
    ports = FakePorts(speed=50.0)
    async with Cloud(broker.port) as cloud, \
            Device(tmp_path / "dev", broker.url, ports=ports) as dev:
        await connected(dev, cloud)
        await cloud.send(now_order("S1", "command", {"command": "RELAY,1"}))
        await cloud.wait_for(lambda: len(cloud.statuses("S1")) >= 2)
        await cloud.send(now_order("S2", "command", {"command": "RELAY,0"}))
        await cloud.wait_for(lambda: any(s == "SUCCEEDED" for s, _ in cloud.statuses("S2")))
        await cloud.wait_for(lambda: any(s == "FAILED" for s, _ in cloud.statuses("S1")))
        ports.speed = 0.0
        await asyncio.sleep(0.5)
        assert dev.actuator_state()["relay"] == 0


async def test_a_waiting_engine_stop_expires_without_acting(tmp_path: Path,
                                                            broker: MqttBroker) -> None:
    ports = FakePorts(speed=80.0)
    async with Cloud(broker.port) as cloud, \
            Device(tmp_path / "dev", broker.url, ports=ports) as dev:
        await connected(dev, cloud)
        await cloud.send(now_order("X1", "command", {"command": "RELAY,1"}, expires_in=1.0))
        await cloud.wait_for(lambda: any(s == "EXPIRED" for s, _ in cloud.statuses("X1")))
        assert "relay" not in dev.actuator_state()
        assert executed_events(dev, "X1") == []


@pytest.mark.parametrize(("make", "status", "why"), [
    (lambda: now_order("B1", "state", expires_in=-1), "EXPIRED", "expired at"),
    (lambda: now_order("B1", "teleport"), "REJECTED", "unknown order type 'teleport'"),
    (lambda: now_order("B1", "config", {"orders": [{"config": "MAX_SPEED_KMH", "value": 999}]}),
     "REJECTED", "MAX_SPEED_KMH: refused (999 out of range 0..300)"),
    (lambda: {**now_order("B1", "config", {"orders": [{"config": "MAX_SPEED_KMH",
                                                       "value": 1}]}),
              "pad": "x" * MAX_ORDER_BYTES}, "REJECTED", "over the 131072 byte limit"),
])
async def test_invalid_orders_are_refused_with_nothing_applied(
        tmp_path: Path, broker: MqttBroker, make: Any, status: str, why: str) -> None:
    async with Cloud(broker.port) as cloud, Device(tmp_path / "dev", broker.url) as dev:
        await connected(dev, cloud)
        await cloud.send(make())
        await cloud.wait_for(lambda: cloud.statuses("B1"))
        await asyncio.sleep(0.2)
        [(got, detail)] = cloud.statuses("B1")
        assert got == status
        assert why in detail
        assert dev.ports.applied == [] and dev.ports.positions == 0
        assert dev.ports.events == []


async def test_unsigned_and_forged_orders_are_rejected_when_a_key_is_set(
        tmp_path: Path, broker: MqttBroker) -> None:
    async with Cloud(broker.port) as cloud, \
            Device(tmp_path / "dev", broker.url, key=KEY) as dev:
        await connected(dev, cloud)
        await cloud.send(now_order("U1", "command", {"command": "LOCKDOOR"}))  # unsigned
        forged = now_order("U2", "command", {"command": "LOCKDOOR"})
        forged["signature"] = "00" * 32
        await cloud.send(json.dumps(forged).encode())
        await cloud.send(b"{not json")
        await cloud.wait_for(lambda: len(cloud.statuses()) >= 3)
        assert cloud.statuses("U1") == [("REJECTED",
                                         "unsigned order: this device requires a signature")]
        assert cloud.statuses("U2") == [("REJECTED", "bad signature")]
        assert cloud.statuses(None)[-1][0] == "REJECTED"
        assert "door_lock" not in dev.actuator_state()
        # a forged message did not take the id: the real, signed order still runs
        cloud.key = KEY
        await cloud.send(now_order("U2", "command", {"command": "LOCKDOOR"}))
        await cloud.wait_for(lambda: any(s == "SUCCEEDED" for s, _ in cloud.statuses("U2")))
        assert dev.actuator_state()["door_lock"] == 1


async def test_cancel_withdraws_a_waiting_order_and_not_an_executed_one(
        tmp_path: Path, broker: MqttBroker) -> None:
    ports = FakePorts(speed=50.0)
    async with Cloud(broker.port) as cloud, \
            Device(tmp_path / "dev", broker.url, ports=ports) as dev:
        await connected(dev, cloud)
        await cloud.send(now_order("W1", "command", {"command": "RELAY,1"}))
        await cloud.send(now_order("D1", "command", {"command": "UNLOCKDOOR"}))
        await cloud.wait_for(lambda: len(cloud.statuses("W1")) >= 2 and
                             any(s == "SUCCEEDED" for s, _ in cloud.statuses("D1")))
        await cloud.send(now_order("K1", "cancel", {"orderUlid": "W1"}))
        await cloud.send(now_order("K2", "cancel", {"orderUlid": "D1"}))
        await cloud.wait_for(lambda: len(cloud.statuses("K2")) >= 2)
        await cloud.wait_for(lambda: ("FAILED", "cancelled") in cloud.statuses("W1"))
        assert cloud.statuses("K1")[-1] == ("SUCCEEDED", "cancelled W1")
        assert cloud.statuses("K2")[-1] == ("FAILED", "already executed")
        ports.speed = 0.0
        await asyncio.sleep(0.4)
        assert "relay" not in dev.actuator_state()


async def test_presence_is_retained_and_the_will_marks_offline(tmp_path: Path,
                                                               broker: MqttBroker) -> None:
    async with Device(tmp_path / "dev", broker.url) as dev, Cloud(broker.port) as cloud:
        await connected(dev, cloud)
        assert dev.link.health.state.value == "ok"
    async with Cloud(broker.port) as cloud:  # a late subscriber sees the retained offline
        await cloud.wait_for(lambda: cloud.of("presence"))
        assert cloud.of("presence")[-1]["online"] is False


async def test_orders_sent_while_the_device_is_offline_come_from_its_session(
        tmp_path: Path, broker: MqttBroker) -> None:
    """The persistent session (clean_session=False, QoS 1) holds orders published while the
    device is away, across a broker restart too; each executes once when it comes back."""
    async with Cloud(broker.port) as cloud:
        async with Device(tmp_path / "dev", broker.url) as dev:
            await connected(dev, cloud)
        for i in range(3):
            await cloud.send(now_order(f"F{i}", "command", {"command": "LOCKDOOR"}))
    # Give the broker a moment before the restart. nats-server 2.9.10 stopped within ~0.1 s of
    # the PUBACKs (while still tearing down the cloud's clean session) sometimes came back
    # without these queued messages (about 1 run in 4); the reconcile of docs/orders.md is
    # what recovers such a loss in production (mosquitto saves its database on SIGTERM).
    await asyncio.sleep(1.5)
    broker.stop()
    broker.start()
    async with Cloud(broker.port) as cloud, Device(tmp_path / "dev", broker.url) as dev:
        await cloud.wait_for(lambda: all(any(s == "SUCCEEDED" for s, _ in cloud.statuses(f"F{i}"))
                                         for i in range(3)), timeout=15)
        await asyncio.sleep(0.3)
        for i in range(3):
            assert [s for s, _ in cloud.statuses(f"F{i}")] == ["RECEIVED", "SUCCEEDED"]
        assert sum(len(executed_events(dev, f"F{i}")) for i in range(3)) == 3
