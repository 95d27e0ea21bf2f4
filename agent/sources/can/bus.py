"""The one place a CAN backend is chosen and opened from :class:`CanSettings`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import can

from agent.errors import SourceError
from agent.sources.settings import CanSettings

# Serial read timeout of the SLCAN port: bounds how long a read blocks on a silent bus (and so
# how fast the reader notices a stop request), without waking up every millisecond.
SLCAN_READ_TIMEOUT_S = 0.1

# J1939 PDU2 PGN in a 29-bit id: bits 8..25 (DP, PF, PS); priority and source address ignored.
_PGN_MASK = 0x03FFFF00


def socketcan_filters(pgns: Iterable[int]) -> list[dict[str, Any]]:
    """Kernel filters letting only the DBC's parameter groups through, from any source address."""
    filters: list[dict[str, Any]] = []
    for pgn in sorted(pgns):
        mask = _PGN_MASK if (pgn & 0xFF00) >= 0xF000 else 0x03FF0000  # PDU1: ignore PS (dest.)
        filters.append({"can_id": (pgn << 8) & mask, "can_mask": mask, "extended": True})
    return filters


def open_bus(settings: CanSettings, pgns: Iterable[int] = ()) -> can.BusABC:
    """Open the configured adapter; raises :class:`can.CanError` / ``OSError`` if it is absent."""
    if settings.backend == "slcan":
        from agent.sources.can.slcan import SlcanBus

        bus: can.BusABC = SlcanBus(
            settings.channel,
            bitrate=settings.bitrate,
            tty_baudrate=settings.tty_baudrate,
            listen_only=settings.listen_only,
            sleep_after_open=settings.open_delay_s,
            timeout=SLCAN_READ_TIMEOUT_S,
        )
        return bus
    if settings.backend == "socketcan":
        # Bitrate and listen-only are interface settings on Linux (ip link set can0 type can
        # bitrate 250000 listen-only on); the kernel filters out PGNs the DBC does not know.
        return can.Bus(
            interface="socketcan",
            channel=settings.channel,
            can_filters=socketcan_filters(pgns) or None,
            receive_own_messages=False,
        )
    raise SourceError(f"CAN backend {settings.backend!r} opens no bus")
