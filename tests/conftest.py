"""Shared fixtures. Area fixtures live in the conftest of each tests/<package>/."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
# The stand-in cloud lives under scripts/ (it is a tool, not part of the agent package).
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found next to the repo at {SHARED}")
    return SHARED
