"""Helpers for the CAN tests: settings for a test port, plus the shared source harness."""

from __future__ import annotations

from agent.sources.settings import CanSettings
from tests.sources.harness import Collected, running, wait_until

__all__ = ["Collected", "can_settings", "running", "wait_until"]


def can_settings(port: str, **kw: object) -> CanSettings:
    base: dict[str, object] = {"backend": "slcan", "channel": port, "open_delay_s": 0.0,
                               "flush_interval_s": 0.01, "reconnect_s": 0.1}
    base.update(kw)
    return CanSettings.model_validate(base)
