"""The whole system on one machine: stand-in cloud + agent + simulated vehicle and driver.

Started by ``scripts/demo`` (which does the set-up first). It starts the stand-in V3 cloud on a
free loopback port, the vehicle simulator on pseudo-terminals (GNSS NMEA + SLCAN CAN), a
real-face video as the driver camera when the models are built, and ``edge-agent run`` with a
config pointing at all of them; then it asks the cloud, with the seed's own read API, what
arrived and prints it. ``--duration SECONDS`` stops everything cleanly.

When mosquitto is installed it also starts its own broker (a free loopback port, never 1883)
— or, with ``--broker mqtt://HOST:PORT``, uses one that is already running (any MQTT 3.1.1
broker without authentication) — runs the cloud with ``--mqtt`` and the agent with ``[orders]``
on it, with order signing on as a production box would (a fresh 32-byte key, 0600, in the work
dir, given to both), and once the agent is online sends a config order and a state order
through the cloud's Order API and a ``LOCKDOOR`` through etrack's open API, printing each
order's status as it changes and etrack's answer (docs/cloud.md, docs/orders.md).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from agent.events import HardwareEventType, TelemetryEventType, VisionEventType
from agent.orders.model import write_secret
from agent.sim.orders_config import orders_toml

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CLIENT_ID, CLIENT_SECRET = "demo-device", "demo-secret"  # config/cloud-demo.toml
CREDENTIALS = ROOT / "config" / "cloud-demo.toml"  # the cloud's default credentials file
DEVICE = "862798050833538"
KIND = {1: "telemetry", 2: "vision", 3: "hardware"}
NAMES: dict[str, Any] = {
    "telemetry": TelemetryEventType, "vision": VisionEventType, "hardware": HardwareEventType
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """Read the child's stdout until a line starting with ``prefix`` (its value returned)."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise SystemExit(f"demo: {proc.args!r} exited with {proc.returncode}")
            continue
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    raise SystemExit(f"demo: no '{prefix}' line from {proc.args!r} within {timeout} s")


def start(cmd: list[str], log: Path, **kw: Any) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
        stderr=log.open("w"), start_new_session=True, **kw,
    )  # fmt: skip


def stop(proc: subprocess.Popen[str] | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found is None and os.access("/usr/sbin/mosquitto", os.X_OK):
        found = "/usr/sbin/mosquitto"
    return found


def start_broker(binary: str, work: Path) -> tuple[subprocess.Popen[str], str]:
    """The demo's own mosquitto: loopback only, a free port, its config and log in ``work``."""
    port = free_port()
    conf_dir = work / "mqtt"
    conf_dir.mkdir(parents=True, exist_ok=True)
    conf = conf_dir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {conf_dir}/\n"
        f"log_dest file {conf_dir}/mosquitto.log\n"
        # orders' statuses are small messages back to back: without this, Nagle + delayed ACK
        # add ~40 ms per status towards the cloud (docs/benchmarks.md, orders)
        "set_tcp_nodelay true\n"
    )
    proc = start([binary, "-c", str(conf)], work / "mosquitto.stderr.log")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"mqtt://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    stop(proc)
    raise SystemExit(f"demo: mosquitto did not start; see {conf_dir / 'mosquitto.log'}")


def etrack_account() -> tuple[str, str]:
    """The first ``[[etrack]]`` account of the cloud's credentials file."""
    entry = tomllib.loads(CREDENTIALS.read_text())["etrack"][0]
    return str(entry["account"]), str(entry["password"])


def broker_url(value: str) -> str:
    """``--broker``: ``mqtt://HOST:PORT`` of a running broker, checked reachable now."""
    u = urlsplit(value)
    try:
        port = u.port
    except ValueError:
        port = None
    if u.scheme != "mqtt" or not u.hostname or port is None or u.username or u.path not in (
        "", "/") or u.query:  # fmt: skip
        shown = "the URL given" if u.username or u.password else repr(value)
        raise argparse.ArgumentTypeError(f"{shown}: must be mqtt://HOST:PORT (no credentials)")
    try:
        with socket.create_connection((u.hostname, port), timeout=3):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{value}: cannot connect ({exc})") from None
    host = f"[{u.hostname}]" if ":" in u.hostname else u.hostname
    return f"mqtt://{host}:{port}"


def order_key(work: Path) -> Path:
    """The orders' HMAC key (32 random bytes, hex, 0600), shared by the cloud and the agent;
    kept when ``--work`` is reused."""
    path = work / "order.key"
    if not path.is_file():
        write_secret(path, secrets.token_hex(32).encode() + b"\n")
    return path


class OrderDesk:
    """The fleet user's orders: the seed's Order API on the stand-in cloud, statuses followed."""

    def __init__(self, http: httpx.Client, etrack: tuple[str, str]) -> None:
        self.http = http
        self.etrack = etrack
        self.etrack_token = ""
        self.commandid = ""  # the etrack LOCKDOOR, "" until sent
        self.command_done = False
        self.sent = False
        self.followed: list[str] = []
        self.shown: dict[str, int] = {}  # orderUlid -> history entries printed
        self.final: dict[str, bool] = {}

    def online(self) -> bool:
        r = self.http.get(f"/order/devices/{DEVICE}/config")
        return r.status_code == 200 and r.json().get("online") is True

    def send(self) -> None:
        """One config order and one forced-position order, as a fleet user would."""
        self.sent = True
        r = self.http.post(
            "/order/devices/config",
            json={"devices": [DEVICE], "orders": [{"config": "MAX_SPEED_KMH", "value": 100}]},
        )
        r.raise_for_status()
        self.followed.append(r.json()["devices"][0]["successfulOrders"][0]["orderUlid"])
        r = self.http.post(f"/order/devices/{DEVICE}/command/state")
        r.raise_for_status()
        self.followed.append(r.json()["orderUlid"])

    def etrack_send(self) -> None:
        """etrack's way (seed 004): a token from md5(md5(password) + time), then the command."""
        account, password = self.etrack
        when = str(int(time.time()))
        inner = hashlib.md5(password.encode()).hexdigest()
        r = self.http.get("/api/authorization", params={
            "time": when, "account": account,
            "signature": hashlib.md5((inner + when).encode()).hexdigest()})  # fmt: skip
        body = r.json()
        if body["code"] != 0:
            print(f"etrack authorization refused: {body}", flush=True)
            self.command_done = True
            return
        self.etrack_token = body["record"]["access_token"]
        r = self.http.post("/api/command/send", params={
            "access_token": self.etrack_token, "imei": DEVICE, "command": "LOCKDOOR"})  # fmt: skip
        body = r.json()
        if body["code"] != 0:
            print(f"etrack command LOCKDOOR refused: {body}", flush=True)
            self.command_done = True
            return
        self.commandid = body["record"]["commandid"]
        print(f"etrack command {self.commandid} LOCKDOOR sent", flush=True)

    def etrack_query(self) -> None:
        r = self.http.post("/api/command/query", params={
            "access_token": self.etrack_token, "commandid": self.commandid})  # fmt: skip
        record = r.json()["record"]
        if record["commandstatus"] == 1:
            self.command_done = True
            print(f"etrack command {self.commandid} LOCKDOOR commandstatus 1: "
                  f"{record['response']}", flush=True)  # fmt: skip

    def busy(self) -> bool:
        """Orders sent and not final yet: poll often."""
        return self.sent and (not self.command_done
                              or any(self.final.get(u) is None for u in self.followed))

    def poll(self, may_send: bool) -> None:
        """Send the orders once ``may_send`` and the agent is online; then print every status
        they went through (``history``), once."""
        if not self.sent:
            if may_send and self.online():
                self.send()
            return
        for ulid in self.followed:
            if self.final.get(ulid):
                continue
            r = self.http.get(f"/order/{ulid}")
            r.raise_for_status()
            (order,) = r.json()
            history = order["history"]
            for h in history[self.shown.get(ulid, 0) :]:
                print(f"order {ulid} {order['type']} {h['status']} {h['detail']}".rstrip(),
                      flush=True)  # fmt: skip
            self.shown[ulid] = len(history)
            self.final[ulid] = order["status"] in ("SUCCEEDED", "FAILED", "REJECTED", "EXPIRED")
        if not self.commandid and not self.command_done:
            self.etrack_send()
        elif not self.command_done:
            self.etrack_query()


def describe(event: dict[str, Any]) -> str:
    kind = KIND.get(event.get("eventType", 0), "?")
    when = datetime.fromtimestamp(event["timestamp"] / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]
    detail: dict[str, Any] = event.get(f"{kind}Event", {})
    code = next(iter(detail.values()), 0)
    name = NAMES[kind](code).name if kind in NAMES else str(code)
    files = f" files={len(event['files'])}" if event.get("files") else ""
    return (
        f"{when} seq={event['sequenceNumber']:<4} {kind:<9} {name:<20}"
        f" speed={event['speed']}km/h fix={event['fixed']} ign={event['ignitionON']}{files}"
    )


class CloudReader:
    """The fleet user's side: the seed's own requests against the stand-in cloud."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=10)
        token = self.http.post(
            "/auth/token", json={"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
        ).json()["accessToken"]
        self.http.headers["Authorization"] = token
        self.seen: set[str] = set()

    def new_events(self, since: datetime) -> list[dict[str, Any]]:
        now = datetime.now(UTC) + timedelta(seconds=1)
        start = max(since, now - timedelta(minutes=59))
        r = self.http.get(
            f"/events/devices/{DEVICE}/events/search/time",
            headers={
                "inithour": start.strftime("%m/%d/%Y %H:%M:%S"),
                "endhour": now.strftime("%m/%d/%Y %H:%M:%S"),
            },
        )
        r.raise_for_status()
        fresh = [e for e in r.json()["Events"] if e["ulid"] not in self.seen]
        self.seen.update(e["ulid"] for e in fresh)
        return sorted(fresh, key=lambda e: e["sequenceNumber"])


class Vehicle:
    def __init__(self, proc: subprocess.Popen[str], config: str) -> None:
        self.proc, self.config = proc, config


def start_vehicle(work: Path) -> Vehicle:
    """The vehicle simulator: NMEA and SLCAN on pseudo-terminals, power/IO input files."""
    gnss, can, power = work / "dev" / "gnss", work / "dev" / "can", work / "dev" / "power"
    proc = start(
        [PY, "-m", "agent.sim", "run", str(ROOT / "config" / "demo-scenario.toml"),
         "--start-now", "--delay", "3", "--nmea", str(gnss), "--slcan", str(can),
         "--power-dir", str(power),
         # the agent's simulated relay and door lock, read back: an engine cut stops the car
         "--actuators", str(work / "actuators.json")],
        work / "simulator.log",
    )  # fmt: skip
    wait_line(proc, "scenario ", 30)
    config = f"""
[vehicle.gnss]
backend = "serial"
port = "{gnss}"
baudrate = 9600

[vehicle.can]
backend = "slcan"
channel = "{can}"
bitrate = 250000

[vehicle.power]
backend = "sysfs"
supply_path = "{power / 'supply_v'}"
backup_path = "{power / 'backup_v'}"
acc_path = "{power / 'acc'}"
door_path = "{power / 'door'}"
locked_path = "{power / 'locked'}"
sos_path = "{power / 'sos'}"
"""
    return Vehicle(proc, config)


def start_driver_camera(work: Path) -> str:
    """A simulated driver camera: a real-face video with the eyes shut on cue (blinks, a
    microsleep, a slow PERCLOS rise), looped. Built once into var/demo/ with the bench's video
    generator (../shared/bench) and the known-truth painter of the DMS tests."""
    if not (ROOT / "models" / "manifest.json").is_file():
        print("demo: models not built; driver monitoring off", flush=True)
        return ""
    cache = ROOT / "var" / "demo"
    video = cache / "driver.mp4"
    if not video.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        face = cache / "face.mp4"
        bench = ROOT.parent / "shared" / "bench" / "make_face_video.py"
        if not bench.is_file():
            print(f"demo: {bench} not found; driver monitoring off", flush=True)
            return ""
        print("demo: building the simulated driver video (once)...", flush=True)
        subprocess.run([PY, str(bench), str(face)], cwd=ROOT, check=True, capture_output=True)
        subprocess.run([PY, "-m", "tests.diag.eyes_shut_video", str(face), str(video)],
                       cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    road = cache / "road.mp4"  # the road camera (cam0): alarms carry both cameras' evidence
    if not road.is_file():
        from agent.sim.road_video import write_road_video

        write_road_video(road)
    return f"""
[vision]
enabled = true
models_dir = "{ROOT / 'models'}"
driver_camera = "{video}"
road_camera = "{road}"
camera_loop = true
"""


def agent_config(work: Path, cloud: str, extra: str) -> Path:
    cfg = work / "agent.toml"
    cfg.write_text(
        f"""# written by scripts/demo
[device]
device_source = "{DEVICE}"

[cloud]
url = "{cloud}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
backoff_initial_s = 0.5
backoff_max_s = 5.0

[storage]
data_dir = "{work / 'agent-data'}"
{extra}"""
    )
    cfg.chmod(0o600)  # it holds the client secret
    return cfg


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    parser.add_argument("--work", type=Path, default=None, help="keep data in this directory")
    parser.add_argument(
        "--broker", type=broker_url, default=None, metavar="mqtt://HOST:PORT",
        help="use this running MQTT 3.1.1 broker (no authentication) instead of starting one",
    )  # fmt: skip
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="edge-agent-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[str]] = []
    stopping = False

    def on_signal(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    began = time.monotonic()
    pointer: Path | None = None
    cfg = work / "agent.toml"
    try:
        mqtt: str = args.broker or ""
        mosquitto = find_mosquitto()
        if not mqtt and mosquitto is not None:
            broker_proc, mqtt = start_broker(mosquitto, work)
            procs.append(broker_proc)
        port = free_port()
        cloud_cmd = [str(ROOT / "scripts" / "cloud"), "--port", str(port),
                     "--data", str(work / "cloud")]  # fmt: skip
        key = order_key(work) if mqtt else None
        if mqtt and key is not None:
            cloud_cmd += ["--mqtt", mqtt, "--order-key", str(key)]
        cloud_proc = start(cloud_cmd, work / "cloud.log")
        procs.append(cloud_proc)
        base = wait_line(cloud_proc, "cloud: ", 60)

        # The camera first: building its video takes seconds on a busy machine, and the
        # vehicle's clock starts with its process (ignition 11 s later), so the agent must
        # follow the vehicle closely to see the ignition go on.
        extra = start_driver_camera(work)
        vehicle = start_vehicle(work)
        if vehicle is not None:
            procs.append(vehicle.proc)
            extra += vehicle.config
        if mqtt and key is not None:
            extra += orders_toml(work, mqtt, key_file=key, backoff_s=(0.5, 5.0))

        cfg = agent_config(work, base, extra)
        agent_proc = start(
            [str(ROOT / ".venv" / "bin" / "edge-agent"), "run", "--config", str(cfg)],
            work / "agent.log",
        )
        procs.append(agent_proc)
        pointer = point_status_at(cfg)

        print(f"cloud: {base}", flush=True)
        print(f"device: {DEVICE}", flush=True)
        print(f"client: {CLIENT_ID} {CLIENT_SECRET}", flush=True)
        etrack = etrack_account()
        if mqtt:
            print(f"broker: {mqtt}", flush=True)
            print(f"etrack: {etrack[0]} {etrack[1]}", flush=True)
            print(f"orders: curl -X POST {base}/order/devices/{DEVICE}/command/state"
                  '   (etrack\'s API: docs/cloud.md "etrack")', flush=True)  # fmt: skip
        else:
            print("demo: mosquitto not found; orders off (apt-get install mosquitto, or "
                  "--broker mqtt://HOST:PORT)", flush=True)  # fmt: skip
        print(f"work: {work} (agent.log, cloud.log, agent.toml)", flush=True)
        print("status: .venv/bin/edge-agent status   (watch events|gnss|can|dms, selftest)",
              flush=True)

        reader = CloudReader(base)
        desk = OrderDesk(reader.http, etrack) if mqtt else None
        since = datetime.now(UTC) - timedelta(minutes=1)
        total = 0
        fixed = False  # orders wait for the first GNSS fix: the state order then has a position
        while not stopping:
            if args.duration is not None and time.monotonic() - began >= args.duration:
                break
            if agent_proc.poll() is not None:
                print(f"demo: the agent exited with {agent_proc.returncode}; see {work}/agent.log")
                return 1
            with contextlib.suppress(httpx.HTTPError):
                if desk is not None:
                    desk.poll(fixed or time.monotonic() - began > 40)
                for event in reader.new_events(since):
                    total += 1
                    fixed = fixed or bool(event.get("fixed"))
                    print("received " + describe(event), flush=True)
            time.sleep(0.25 if desk is not None and desk.busy() else 1.0)

        if desk is not None:
            with contextlib.suppress(httpx.HTTPError):
                desk.poll(False)
        stop(agent_proc)
        time.sleep(0.5)
        with contextlib.suppress(httpx.HTTPError):
            for event in reader.new_events(since):
                total += 1
                print("received " + describe(event), flush=True)
        print(json.dumps({"summary": {"eventsReceived": total, "work": str(work)}}), flush=True)
        return 0
    finally:
        for proc in reversed(procs):
            stop(proc)
        if pointer is not None and pointer.is_symlink() and pointer.resolve() == cfg.resolve():
            pointer.unlink()


def point_status_at(cfg: Path) -> Path | None:
    """``edge-agent status`` without --config finds the running demo through this link."""
    pointer = ROOT / "var" / "demo" / "agent.toml"
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        tmp = pointer.with_name("agent.toml.new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(cfg)
        tmp.replace(pointer)
    except OSError:
        return None
    return pointer


if __name__ == "__main__":
    raise SystemExit(main())
