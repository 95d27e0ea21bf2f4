"""Run-time reconfiguration: a new settings snapshot reaches each component through one path."""

from __future__ import annotations

import asyncio
from pathlib import Path

from standin_cloud import CloudServer

from agent.app import Agent
from agent.sources.gnss.replay import NmeaPty
from tests.test_app import Receiver, agent_config
from tests.uplink.backbone_factory import cloud_config


def test_new_settings_apply_live_and_only_a_changed_source_restarts(tmp_path: Path) -> None:
    pty = NmeaPty(link=tmp_path / "gnss")
    with CloudServer(cloud_config(tmp_path / "cloud")) as cloud, Receiver(pty):
        cfg = agent_config(tmp_path, cloud.url, pty.path)

        async def scenario() -> None:
            stop = asyncio.Event()
            agent = Agent(cfg)
            task = asyncio.create_task(agent.run(stop))
            try:
                for _ in range(100):
                    comps = agent.supervisor.components
                    if "gnss" in comps and comps["gnss"].health.state == "ok":
                        break
                    await asyncio.sleep(0.1)
                gnss_before = agent.supervisor.components["gnss"]
                source_before = gnss_before.source  # type: ignore[attr-defined]

                same = cfg.model_copy()
                assert agent.reconfigure(same) == []  # nothing changed, nothing restarted

                rules = cfg.rules.model_copy(update={"max_speed_kmh": 42})
                gnss = cfg.vehicle.gnss.model_copy(update={"stall_timeout_s": 9.0})
                vehicle = cfg.vehicle.model_copy(update={"gnss": gnss})
                new = cfg.model_copy(update={"rules": rules, "vehicle": vehicle})
                assert agent.reconfigure(new) == ["gnss"]
                assert agent.engine.thresholds.max_speed_kmh == 42  # live, no restart
                assert agent.config is new
                comp = agent.supervisor.components["gnss"]
                assert comp.source is not source_before  # type: ignore[attr-defined]
                for _ in range(100):
                    if comp.health.last_activity and comp.health.state == "ok" and \
                            comp.source.diagnostics()["fixes"] > 0:  # type: ignore[attr-defined]
                        break
                    await asyncio.sleep(0.1)
                assert comp.source.diagnostics()["fixes"] > 0  # type: ignore[attr-defined]
                assert comp.health.restarts == 0  # a reconfiguration is not a fault
            finally:
                stop.set()
                await task

        asyncio.run(scenario())
    pty.close()
