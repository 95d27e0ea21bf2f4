"""Shared fixtures. Area fixtures live in the conftest of each tests/<package>/."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found next to the repo at {SHARED}")
    return SHARED
