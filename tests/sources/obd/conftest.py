"""Fixtures for the OBD tests: ELM327 adapters on real pseudo-terminals.

No ``__init__.py`` in this directory on purpose: a test package named ``obd`` would shadow
the `obd` package some tools install. Test module names are therefore unique (``test_obd_*.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from elm_peer import ElmPeer


@pytest.fixture
def elm(tmp_path: Path) -> Iterator[ElmPeer]:
    p = ElmPeer(tmp_path / "ttyOBD")
    yield p
    p.unplug()
