"""SocketCAN backend: kernel filters, a missing interface, and a real vcan where one exists.

This sandbox's kernel has no AF_CAN (``ip link add type vcan`` fails), so the vcan test skips
here; on a machine with the vcan module and root it runs the source against a real interface.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

import can
import pytest

from agent.sources.can.bus import socketcan_filters
from agent.sources.can.source import CanSource
from agent.sources.settings import CanSettings
from tests.sources.can.can_harness import running, wait_until

VCAN = "vcanagent0"


def test_socketcan_filters_match_pgn_from_any_source_address() -> None:
    filters = socketcan_filters([65265, 61444, 59904])
    assert filters == [
        {"can_id": 0xEA0000, "can_mask": 0x03FF0000, "extended": True},  # PDU1: no PS
        {"can_id": 0xF00400, "can_mask": 0x03FFFF00, "extended": True},
        {"can_id": 0xFEF100, "can_mask": 0x03FFFF00, "extended": True},
    ]

    def passes(f: dict[str, int], can_id: int) -> bool:
        return (can_id & f["can_mask"]) == (f["can_id"] & f["can_mask"])

    ccvs = filters[2]
    assert passes(ccvs, 0x18FEF100) and passes(ccvs, 0x0CFEF1EE)  # any priority and SA
    assert not passes(ccvs, 0x18FEF200)
    assert passes(filters[0], 0x18EA00F9) and passes(filters[0], 0x18EAFF17)  # any DA


async def test_missing_socketcan_interface_is_a_fault_not_a_crash() -> None:
    source = CanSource(CanSettings(backend="socketcan", channel="nosuchcan9", reconnect_s=0.1))
    async with running(source) as out:
        await wait_until(lambda: out.health() == [False])
    diag = source.diagnostics()
    assert "cannot open socketcan nosuchcan9" in str(diag["last_error"])


@pytest.fixture
def vcan() -> Iterator[str]:
    made = subprocess.run(["ip", "link", "add", "dev", VCAN, "type", "vcan"],
                          capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"no vcan here: {made.stderr.strip()}")
    subprocess.run(["ip", "link", "set", "up", VCAN], check=True)
    try:
        yield VCAN
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(["ip", "link", "delete", VCAN], check=False)


async def test_source_decodes_frames_from_a_vcan_interface(vcan: str) -> None:
    source = CanSource(CanSettings(backend="socketcan", channel=vcan, flush_interval_s=0.01))
    with can.Bus(interface="socketcan", channel=vcan) as sender:
        async with running(source) as out:
            await wait_until(lambda: out.health() == [True])
            sender.send(can.Message(arbitration_id=0x18FECA00, data=bytes(8)))  # filtered out
            sender.send(can.Message(arbitration_id=0x18FEF100,
                                    data=bytes.fromhex("FF003200FFFFFFFF")))
            await wait_until(lambda: out.signals() == [("wheel_speed_kmh", 50.0)])
        assert source.diagnostics()["unknown_pgn"] == 0  # the kernel dropped DM1
