"""Fixtures for the OBD tests: ELM327 adapters on real pseudo-terminals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sources.obd.elm_peer import ElmPeer


@pytest.fixture
def elm(tmp_path: Path) -> Iterator[ElmPeer]:
    p = ElmPeer(tmp_path / "ttyOBD")
    yield p
    p.unplug()
