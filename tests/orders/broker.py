"""Real MQTT brokers for the tests, each started on free loopback ports with its own config and
persistence directory, stoppable and restartable on the same ports (never the machine's own
1883 / 4222):

* :class:`Broker` — Debian's ``mosquitto``;
* :class:`NatsBroker` — Debian's ``nats-server`` with JetStream and its MQTT endpoint, an
  independent implementation (sessions, retained messages and QoS 1 redelivery live in
  JetStream streams), to prove the agent does not lean on one broker's quirks.

Both have ``name``, ``port`` (the MQTT port), ``url``, ``start()``, ``stop()`` and ``log``.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
BROKERS = ("mosquitto", "nats")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MqttBroker:
    """A broker process: start and wait until its MQTT port accepts, stop gracefully."""

    name = "broker"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: see {self.log}") from None
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start: see {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Broker(MqttBroker):
    """mosquitto with persistence (sessions and retained messages survive a restart)."""

    name = "mosquitto"

    def __init__(self, workdir: Path, port: int | None = None, *,
                 nodelay: bool = False) -> None:
        super().__init__(workdir, port)
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            "autosave_interval 1\n"
            "max_packet_size 1048576\n"
            f"log_dest file {self.log}\n"
            # Started as root, mosquitto drops to the "mosquitto" user, which cannot write this
            # directory: no log and, worse, no persistence (queued messages lost on restart).
            f"user {getpass.getuser()}\n"
            # mosquitto's default leaves Nagle on for what it sends (nats-server, in Go, does not)
            + ("set_tcp_nodelay true\n" if nodelay else "")
        )

    def command(self) -> list[str]:
        return [MOSQUITTO, "-c", str(self.conf)]


class NatsBroker(MqttBroker):
    """nats-server's MQTT endpoint. MQTT needs JetStream (file store here, so sessions,
    retained messages and unacknowledged QoS 1 messages survive a restart) and a
    ``server_name``. The NATS client port is a free one too, never the machine's 4222."""

    name = "nats"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.nats_port = free_port()
        self.conf = self.dir / "nats.conf"
        self.conf.write_text(
            "server_name: edge_agent_test\n"
            f"listen: 127.0.0.1:{self.nats_port}\n"
            "max_payload: 1MB\n"
            f"jetstream {{ store_dir: \"{self.dir / 'js'}\" }}\n"
            f"mqtt {{ listen: 127.0.0.1:{self.port} }}\n"
        )

    def command(self) -> list[str]:
        return [NATS_SERVER, "-c", str(self.conf), "-l", str(self.log)]


def make_broker(kind: str, workdir: Path, *, nodelay: bool = False) -> MqttBroker:
    if kind == "mosquitto":
        return Broker(workdir, nodelay=nodelay)
    if kind == "nats":
        return NatsBroker(workdir)
    raise ValueError(f"unknown broker {kind!r}")
