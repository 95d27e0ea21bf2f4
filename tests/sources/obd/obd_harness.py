"""Helpers for the OBD tests: settings for a test port, plus the shared source harness."""

from __future__ import annotations

from agent.sources.settings import ObdSettings
from tests.sources.harness import Collected, running, wait_until

__all__ = ["Collected", "obd_settings", "running", "wait_until"]


def obd_settings(port: str, **kw: object) -> ObdSettings:
    base: dict[str, object] = {"backend": "elm327", "port": port, "poll_interval_s": 0.05,
                               "command_timeout_s": 0.5, "connect_timeout_s": 2.0,
                               "reconnect_s": 0.1}
    base.update(kw)
    return ObdSettings.model_validate(base)
