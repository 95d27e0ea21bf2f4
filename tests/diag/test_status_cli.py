"""The technician's commands against a real agent (in this process) and with no agent at all."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from standin_cloud import CloudServer

from agent.app import Agent
from agent.config import AgentConfig
from agent.runtime.control import request
from agent.sources.gnss.replay import NmeaPty
from tests.test_app import Receiver, agent_config
from tests.uplink.backbone_factory import cloud_config


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def config_file(tmp_path: Path, cloud_url: str, gnss: Path) -> tuple[Path, AgentConfig]:
    sock = Path("/tmp") / f"ea-test-{tmp_path.name[-20:]}.sock"
    cfg = agent_config(tmp_path, cloud_url, gnss, f'[runtime]\ncontrol_socket = "{sock}"\n')
    return tmp_path / "agent.toml", cfg


async def until_healthy(path: Path) -> dict[str, Any]:
    for _ in range(100):
        code, out, _ = await cli("status", "--json", "--config", str(path))
        if code == 0:
            doc: dict[str, Any] = json.loads(out)
            return doc
        await asyncio.sleep(0.2)
    raise AssertionError(f"agent never healthy: {out}")


def test_status_without_a_running_agent_reads_the_outbox_and_exits_3(tmp_path: Path) -> None:
    pty = NmeaPty(link=tmp_path / "gnss")
    with CloudServer(cloud_config(tmp_path / "cloud")) as cloud, Receiver(pty):
        path, cfg = config_file(tmp_path, cloud.url, pty.path)

        async def scenario() -> None:
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(2.0, stop.set)
            await Agent(cfg).run(stop)

        asyncio.run(scenario())  # leaves a database behind
    pty.close()
    code, out, _ = asyncio.run(cli("status", "--json", "--config", str(path)))
    doc = json.loads(out)
    assert code == 3
    assert doc["agent"]["running"] is False and doc["components"] == {}
    assert doc["outbox"]["database"].endswith("outbox.sqlite3")
    code, out, _ = asyncio.run(cli("diag", "status", "--config", str(path)))
    assert code == 3 and out.startswith("edge-agent: NOT RUNNING")


def test_live_views_selftest_and_refused_hooks_against_a_running_agent(tmp_path: Path) -> None:
    pty = NmeaPty(link=tmp_path / "gnss")
    with CloudServer(cloud_config(tmp_path / "cloud")) as cloud, Receiver(pty):
        path, cfg = config_file(tmp_path, cloud.url, pty.path)

        async def scenario() -> None:
            stop = asyncio.Event()
            agent = asyncio.create_task(Agent(cfg).run(stop))
            try:
                doc = await until_healthy(path)
                assert doc["components"]["gnss"]["health"] == "ok"

                code, out, _ = await cli("status", "--config", str(path))
                assert code == 0
                assert "COMPONENT" in out and "gnss" in out and "outbox: pending" in out

                code, out, _ = await cli("watch", "gnss", "--json", "--count", "2",
                                         "--interval", "0.2", "--config", str(path))
                views = [json.loads(line) for line in out.splitlines()]
                assert code == 0 and len(views) == 2
                assert views[-1]["vehicle"]["gnss"]["fixed"] is True

                # Events stored from now on stream as they are stored.
                watcher = asyncio.create_task(cli("watch", "events", "--json", "--count", "8",
                                                  "--interval", "0.5", "--config", str(path)))
                code, out, _ = await watcher
                streamed = [e for line in out.splitlines() for e in json.loads(line)["events"]]
                assert code == 0 and streamed, "positions of the moving receiver stream live"
                assert all(e["type"] for e in streamed)

                code, out, _ = await cli("selftest", "--json", "--config", str(path))
                checks = {c["name"]: c for c in json.loads(out)["checks"]}
                assert checks["gnss"]["result"] == "pass", checks["gnss"]
                assert checks["gnss"]["detail"].startswith("talking")
                assert checks["cloud"]["result"] == "pass"
                assert checks["disk"]["result"] == "pass"
                assert checks["models"]["result"] == "skip"
                assert code == 0

                answer = await request(cfg.runtime.control_socket,  # type: ignore[arg-type]
                                       {"cmd": "hang", "component": "rules", "seconds": 30})
                assert answer == {"error": "test hooks are off ([runtime] test_hooks)"}
                answer = await request(cfg.runtime.control_socket,  # type: ignore[arg-type]
                                       {"cmd": "snapshot"})
                assert answer == {"error": "no camera 'cam1' in this agent"}
            finally:
                stop.set()
                await agent

        asyncio.run(scenario())
    pty.close()


def test_selftest_fails_on_a_missing_port_and_refused_credentials(tmp_path: Path) -> None:
    with CloudServer(cloud_config(tmp_path / "cloud")) as cloud:
        path = tmp_path / "agent.toml"
        path.write_text(f'[cloud]\nurl = "{cloud.url}"\nclient_id = "nobody"\n'
                        f'client_secret = "wrong"\n[storage]\ndata_dir = "{tmp_path}/data"\n'
                        f'[vehicle.gnss]\nbackend = "serial"\nport = "{tmp_path}/no-such-tty"\n')
        code, out, _ = asyncio.run(cli("selftest", "--config", str(path)))
    lines = {line.split()[1]: line for line in out.splitlines()}
    assert code == 1
    assert lines["gnss"].startswith("FAIL") and "not present" in lines["gnss"]
    assert lines["cloud"].startswith("FAIL") and "credentials refused" in lines["cloud"]
    assert lines["config"].startswith("PASS")
