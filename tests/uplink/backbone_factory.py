"""Events, attachments, a cloud and an outbox for the uplink / cloud / e2e tests.

Imported by tests/uplink, tests/standin_cloud and tests/e2e (their conftests put this directory
and ``scripts/`` on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SHARED_DIR = REPO.parent / "shared"
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))

import httpx  # noqa: E402
from standin_cloud import CloudConfig  # noqa: E402

from agent.config import CloudSettings  # noqa: E402
from agent.events import (  # noqa: E402
    Bucket,
    CameraId,
    DeviceIdentity,
    Event,
    FileFeature,
    FileRef,
    TelemetryDetail,
    TelemetryEventType,
    VehicleContext,
    VisionDetail,
    VisionEventType,
    derived_key,
    file_key,
)
from agent.sources.readings import FixMode, GnssFix  # noqa: E402
from agent.store.api import Attachment  # noqa: E402
from agent.ulid import new_ulid  # noqa: E402

IDENTITY = DeviceIdentity(
    device_source="862798050833538", account_ulid="01GXRRKM43W02X5JZDSMZHAJJY"
)
CLIENT_ID = "device-under-test"
CLIENT_SECRET = "Uplink-Test-Secret-9f3b"  # must never show up in logs or diagnostics
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
# The cloud's /admin/* credential in tests (CloudServer via cloud_config, CloudProcess via flag).
ADMIN_TOKEN = "test-admin-token-5c1e9a77d0b24f31a6e2"
ADMIN_HEADERS = {"X-Admin-Token": ADMIN_TOKEN}


def cloud_config(data_dir: Path, **kwargs: Any) -> CloudConfig:
    kwargs.setdefault("admin_token", ADMIN_TOKEN)
    return CloudConfig(data_dir=data_dir, clients={CLIENT_ID: CLIENT_SECRET}, **kwargs)


def cloud_settings(url: str, **kwargs: Any) -> CloudSettings:
    values: dict[str, Any] = {
        "url": url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "backoff_initial_s": 0.02,
        "backoff_max_s": 0.2,
        "timeout_s": 5.0,
    }
    values.update(kwargs)
    return CloudSettings(**values)


def context(i: int = 0) -> VehicleContext:
    fix_ms = T0_MS + i * 1000
    fix = GnssFix(fix_ms / 1000, fix_ms, FixMode.FIX_3D, lat=-23.329572 + i * 1e-5,
                  lon=-51.178328, alt=639.2, hdop=0.66, vdop=0.34, satellites_used=16)
    return VehicleContext(
        fix=fix,
        heading=i % 360,
        speed_kmh=32,
        fixed=True,
        ignition_on=True,
        odometer_m=272_347 + i,
        vehicle_battery_v=13.9,
        backup_battery_v=4.1,
    )


def telemetry(i: int, kind: TelemetryEventType = TelemetryEventType.PERIODIC_POSITION) -> Event:
    ts = T0_MS + i * 1000
    return Event(timestamp_ms=ts, context=context(i), detail=TelemetryDetail(kind))


def invalid_telemetry(i: int) -> Event:
    """Stored fine by the outbox but refused by the cloud (latitude out of range)."""
    ts = T0_MS + i * 1000
    bad = VehicleContext(GnssFix(0.0, 0, FixMode.FIX_3D, lat=95.0, lon=10.0), fixed=True)
    return Event(timestamp_ms=ts, context=bad, detail=TelemetryDetail(TelemetryEventType.SOS))


def image_bytes(rng: random.Random, size: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + rng.randbytes(size)


def vision_with_files(
    i: int, rng: random.Random, sizes: Sequence[int] = (6000, 900, 7000, 800, 1500)
) -> tuple[Event, list[Attachment]]:
    """A distraction event naming cam0 and cam1 images, with thumbnails and a face crop."""
    ts = T0_MS + i * 1000
    ulid = new_ulid(ts)
    road = FileRef(file_key(IDENTITY, ulid, CameraId.ROAD), Bucket.IMAGES, feature=FileFeature.EVENT)
    face = FileRef(file_key(IDENTITY, ulid, CameraId.DRIVER), Bucket.IMAGES, feature=FileFeature.FACE)
    extra = (
        FileRef(derived_key(road.filename, "thumbnail"), Bucket.IMAGES),
        FileRef(derived_key(face.filename, "thumbnail"), Bucket.IMAGES),
        FileRef(derived_key(face.filename, "filecrop"), Bucket.FACES),
    )
    refs = (road, extra[0], face, extra[1], extra[2])
    attachments = [
        Attachment(ref, image_bytes(rng, size)) for ref, size in zip(refs, sizes, strict=True)
    ]
    event = Event(
        timestamp_ms=ts,
        context=context(i),
        detail=VisionDetail(VisionEventType.DISTRACTION, vision_timestamp_s=ts // 1000, fps=15),
        files=(road, face),
        ulid=ulid,
    )
    return event, attachments


# --- the cloud's admin API (tests only) --------------------------------------------------------
def add_fault(url: str, **rule: Any) -> None:
    httpx.post(f"{url}/admin/faults", json=rule, headers=ADMIN_HEADERS, timeout=5).raise_for_status()


def clear_faults(url: str) -> None:
    httpx.delete(f"{url}/admin/faults", headers=ADMIN_HEADERS, timeout=5).raise_for_status()


def stats(url: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/admin/stats", headers=ADMIN_HEADERS, timeout=5)
    r.raise_for_status()
    out: dict[str, Any] = r.json()
    return out


def deliveries(url: str, ulids: Sequence[str]) -> dict[str, int]:
    r = httpx.post(
        f"{url}/admin/deliveries", json={"ulids": list(ulids)}, headers=ADMIN_HEADERS, timeout=30
    )
    r.raise_for_status()
    out: dict[str, int] = r.json()["deliveries"]
    return out


def token(url: str) -> str:
    """The seed's own token request (000, Auth): POST /auth/token with clientId/clientSecret."""
    r = httpx.post(
        f"{url}/auth/token",
        headers={"Content-Type": "application/json"},
        content=json.dumps({"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}),
        timeout=5,
    )
    assert r.status_code == 200, r.text
    out: str = r.json()["accessToken"]
    return out


def latest(url: str, items: Sequence[str], maxkeys: int = 1000) -> list[dict[str, Any]]:
    r = httpx.post(
        f"{url}/events/latest",
        headers={"maxkeys": str(maxkeys), "Authorization": token(url)},
        json={"items": list(items)},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["Events"]
    return events


def cloud_file(url: str, bucket: str, key: str) -> bytes | None:
    """The bytes the cloud serves for ``bucket``/``key`` via ``POST /events/files``."""
    auth = {"Authorization": token(url)}
    r = httpx.post(
        f"{url}/events/files",
        headers=auth,
        json={"files": [{"BucketName": bucket, "FileName": key}]},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    got = httpx.get(r.json()["files"][0]["urlfile"], timeout=10)
    return got.content if got.status_code == 200 else None


def cloud_files(url: str, refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], bytes | None]:
    """Like :func:`cloud_file` for many (bucket, key)s: one token, one links request, one pool."""
    with httpx.Client(timeout=10) as http:
        r = http.post(
            f"{url}/events/files",
            headers={"Authorization": token(url)},
            json={"files": [{"BucketName": b, "FileName": k} for b, k in refs]},
        )
        assert r.status_code == 200, r.text
        out: dict[tuple[str, str], bytes | None] = {}
        for ref, item in zip(refs, r.json()["files"], strict=True):
            got = http.get(item["urlfile"])
            out[ref] = got.content if got.status_code == 200 else None
        return out


def free_port() -> int:
    """A free port OUTSIDE the kernel's ephemeral range (32768-60999 here).

    For a cloud that is stopped and started again on the same port: while it is down, other
    processes' ``bind(("", 0))`` (e.g. other test runs on this machine) cannot be handed this
    port, so the agent cannot end up talking to somebody else's server.
    """
    import socket

    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 32_000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


def env_with_scripts() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "scripts"), str(REPO)])
    return env


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> float:
    """Poll ``predicate`` (in a thread: it may do blocking I/O) until true; return the time it took."""
    start = time.monotonic()
    async with asyncio.timeout(timeout_s):
        while not await asyncio.to_thread(predicate):  # noqa: ASYNC110 (polling another process)
            await asyncio.sleep(0.02)
    return time.monotonic() - start


def revoke_tokens(url: str) -> None:
    httpx.post(f"{url}/admin/revoke-tokens", headers=ADMIN_HEADERS, timeout=5).raise_for_status()


class CloudProcess:
    """``scripts/cloud`` as a child process (the demo's way to run it); stop/start on the same data."""

    def __init__(
        self, data_dir: Path, *args: str, port: int = 0, admin_token: str | None = ADMIN_TOKEN
    ) -> None:
        self.data_dir = data_dir
        self.args = list(args)
        self.port = port
        # None: let the cloud generate one and read it from its "admin: <token>" line.
        self.admin_token = admin_token
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.scheme = "http"  # from the "cloud: <scheme>://..." line (https with --tls-cert)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> CloudProcess:
        cmd = [
            str(REPO / "scripts" / "cloud"),
            "--port",
            str(self.port),
            "--data",
            str(self.data_dir),
        ]
        if self.admin_token is not None:
            cmd += ["--admin-token", self.admin_token]
        wanted = {"cloud"}
        wanted |= {"admin"} if self.admin_token is None else set()
        wanted |= {"client"} if "--print-client" in self.args else set()
        self.proc = subprocess.Popen([*cmd, *self.args], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        out = self.proc.stdout
        threading.Thread(target=lambda: [lines.put(x) for x in out], daemon=True).start()
        deadline = time.monotonic() + timeout_s
        self.lines = []
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                line = lines.get(timeout=0.1).rstrip("\n")
            except queue.Empty:
                continue
            self.lines.append(line)
            name, _, value = line.partition(": ")
            if name == "cloud":
                self.port = int(value.rsplit(":", 1)[1])
                self.scheme = value.split("://", 1)[0]
            elif name == "admin":
                self.admin_token = value
            wanted.discard(name)
            if not wanted:
                return self
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError(f"scripts/cloud did not start: {self.lines}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout_s)
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()


# --- TLS ---------------------------------------------------------------------------------------
_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def make_tls_files(directory: Path, ca_name: str = "Edge Test Private CA") -> dict[str, Path]:
    """A throwaway private CA and a server cert it signed for 127.0.0.1/localhost (openssl CLI).

    Returns ``ca`` (the CA cert, what the agent trusts), ``cert``/``key`` (the cloud's).
    """
    directory.mkdir(parents=True, exist_ok=True)
    cnf = directory / "openssl.cnf"
    cnf.write_text(_OPENSSL_CNF)
    files = {
        k: directory / n
        for k, n in [
            ("ca", "ca.pem"),
            ("ca_key", "ca.key"),
            ("cert", "cert.pem"),
            ("key", "key.pem"),
        ]
    }
    csr = directory / "leaf.csr"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for cmd in (
        [
            "req",
            "-x509",
            *ec,
            "-keyout",
            files["ca_key"],
            "-out",
            files["ca"],
            "-days",
            "2",
            "-subj",
            f"/CN={ca_name}",
            "-config",
            cnf,
            "-extensions",
            "ca",
        ],
        [
            "req",
            "-new",
            *ec,
            "-keyout",
            files["key"],
            "-out",
            csr,
            "-subj",
            "/CN=localhost",
            "-config",
            cnf,
        ],
        [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            files["ca"],
            "-CAkey",
            files["ca_key"],
            "-set_serial",
            str(random.getrandbits(63)),
            "-days",
            "2",
            "-out",
            files["cert"],
            "-extfile",
            cnf,
            "-extensions",
            "leaf",
        ],
    ):
        subprocess.run(["openssl", *map(str, cmd)], check=True, capture_output=True, timeout=30)
    for key in (files["ca_key"], files["key"]):
        key.chmod(0o600)
    return files
