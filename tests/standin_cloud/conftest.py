"""Fixtures: the stand-in cloud in a thread on a free loopback port; a token for it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "uplink"))  # backbone_factory (puts scripts/ on the path)

from backbone_factory import cloud_config, token  # noqa: E402
from standin_cloud import CloudServer  # noqa: E402


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[CloudServer]:
    with CloudServer(cloud_config(tmp_path / "cloud")) as server:
        yield server


@pytest.fixture
def auth(cloud: CloudServer) -> dict[str, str]:
    return {"Authorization": token(cloud.url)}
