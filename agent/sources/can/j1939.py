"""J1939 identifiers: parameter group number (PGN) and source address of a 29-bit CAN id.

Layout of the 29-bit id (SAE J1939-21): priority (3 bits) | EDP | DP | PDU format PF (8) |
PDU specific PS (8) | source address SA (8). When PF < 240 (PDU1) PS is a destination address
and not part of the PGN.
"""

from __future__ import annotations

PDU2_MIN_PF = 240


def pgn_of(can_id: int) -> int:
    """The PGN of a 29-bit identifier (destination address masked out for PDU1)."""
    pgn = (can_id >> 8) & 0x3FFFF
    if ((pgn >> 8) & 0xFF) < PDU2_MIN_PF:
        pgn &= 0x3FF00
    return pgn


def source_address(can_id: int) -> int:
    return can_id & 0xFF


def priority_of(can_id: int) -> int:
    return (can_id >> 26) & 0x7
