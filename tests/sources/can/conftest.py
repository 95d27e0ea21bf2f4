"""Fixtures for the CAN tests: SLCAN adapters on real pseudo-terminals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sources.can.slcan_peer import SlcanPeer


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[SlcanPeer]:
    p = SlcanPeer(tmp_path / "ttyCAN")
    yield p
    p.unplug()
