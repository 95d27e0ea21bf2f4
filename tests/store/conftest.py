"""Fixtures for the outbox tests: a real outbox in a real directory (tmp_path)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.store.outbox import Outbox
from tests.store.events_factory import IDENTITY


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "edge-agent"


@pytest.fixture
def outbox(data_dir: Path) -> Iterator[Outbox]:
    box = Outbox(data_dir, IDENTITY)
    yield box
    box.close()
