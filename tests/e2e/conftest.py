"""End-to-end: the agent's real outbox, writer and uplink against ``scripts/cloud`` over loopback."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "uplink"))  # backbone_factory
