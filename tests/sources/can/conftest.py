"""Fixtures for the CAN tests: SLCAN adapters on real pseudo-terminals.

No ``__init__.py`` in this directory on purpose: a test package named ``can`` would shadow
python-can. Test module names are therefore unique (``test_can_*.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slcan_peer import SlcanPeer


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[SlcanPeer]:
    p = SlcanPeer(tmp_path / "ttyCAN")
    yield p
    p.unplug()
