"""Fixtures: a real stand-in cloud on a free loopback port, a real SQLite outbox."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backbone_factory import IDENTITY, cloud_config
from standin_cloud import CloudServer

from agent.store.outbox import Outbox


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[CloudServer]:
    with CloudServer(cloud_config(tmp_path / "cloud")) as server:
        yield server


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox", IDENTITY)
    yield box
    box.close()
