"""``scripts/cloud`` as the demo runs it: a child process that survives restarts on its data dir."""

from __future__ import annotations

import random
import signal
import ssl
import stat
import subprocess
import tomllib
from pathlib import Path

import httpx
import pytest
from backbone_factory import IDENTITY, REPO, CloudProcess, image_bytes, make_tls_files, telemetry

from agent.events import to_envelope

DEMO = tomllib.loads((REPO / "config" / "cloud-demo.toml").read_text())["clients"][0]


def _token(url: str) -> str:
    body = {"clientId": DEMO["clientId"], "clientSecret": DEMO["clientSecret"]}
    r = httpx.post(f"{url}/auth/token", json=body, timeout=5)
    assert r.status_code == 200
    return str(r.json()["accessToken"])


def test_prints_its_url_and_the_demo_client_and_keeps_everything_across_restarts(
    tmp_path: Path,
) -> None:
    cloud = CloudProcess(tmp_path / "data", "--print-client").start()
    try:
        assert cloud.lines == [
            f"cloud: {cloud.url}",
            f"client: {DEMO['clientId']} {DEMO['clientSecret']}",
        ]
        token = _token(cloud.url)
        auth = {"Authorization": token}
        data = image_bytes(random.Random(4), 2048)
        key = f"{IDENTITY.account_ulid}/{IDENTITY.device_source}/x_cam0.png"
        r = httpx.post(
            f"{cloud.url}/events/files/upload",
            headers=auth,
            json={
                "files": [{"BucketName": "v3-device-images", "FileName": key, "Size": len(data)}]
            },
        )
        assert httpx.put(r.json()["files"][0]["uploadUrl"], content=data).status_code == 200
        env = to_envelope(telemetry(1), IDENTITY, 1)
        r = httpx.post(f"{cloud.url}/events", headers=auth, json={"Events": [env]})
        assert r.json() == {"NotProcess": None}
    finally:
        # Graceful stop, then uvicorn re-raises the signal: "terminated by SIGTERM", as systemd expects.
        assert cloud.stop(signal.SIGTERM) == -signal.SIGTERM

    key_file = tmp_path / "data" / "signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    again = CloudProcess(tmp_path / "data", port=cloud.port).start()  # same port, same data
    try:
        latest = httpx.post(
            f"{again.url}/events/latest",
            headers={"Authorization": token, "maxkeys": "10"},  # the token from before the restart
            json={"items": [IDENTITY.device_source]},
        )
        assert latest.status_code == 200
        assert [e["ulid"] for e in latest.json()["Events"]] == [env["ulid"]]
        links = httpx.post(
            f"{again.url}/events/files",
            headers={"Authorization": token},
            json={"files": [{"BucketName": "v3-device-images", "FileName": key}]},
        )
        assert httpx.get(links.json()["files"][0]["urlfile"]).content == data
    finally:
        again.stop(signal.SIGKILL)  # even a kill loses nothing that was acknowledged


def test_fault_flag_injects_from_the_first_request(tmp_path: Path) -> None:
    cloud = CloudProcess(tmp_path / "data", "--fault", "kind=500,count=1,path=/auth/token").start()
    try:
        body = {"clientId": DEMO["clientId"], "clientSecret": DEMO["clientSecret"]}
        assert httpx.post(f"{cloud.url}/auth/token", json=body).status_code == 500
        assert httpx.post(f"{cloud.url}/auth/token", json=body).status_code == 200
    finally:
        cloud.stop()


def test_bad_credentials_file_fails_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "creds.toml"
    bad.write_text("[[clients]]\nclientId = 'x'\n")
    r = subprocess.run(
        [
            str(REPO / "scripts" / "cloud"),
            "--port",
            "0",
            "--data",
            str(tmp_path / "d"),
            "--credentials",
            str(bad),
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1
    assert r.stderr.strip().startswith("cloud: ") and "clientSecret" in r.stderr
    assert r.stdout == ""


def test_tls_flags_serve_https_and_hand_out_https_links(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls")
    cloud = CloudProcess(
        tmp_path / "data", "--tls-cert", str(tls["cert"]), "--tls-key", str(tls["key"])
    ).start()
    try:
        assert cloud.lines == [f"cloud: https://127.0.0.1:{cloud.port}"]
        with httpx.Client(verify=ssl.create_default_context(cafile=str(tls["ca"]))) as http:
            body = {"clientId": DEMO["clientId"], "clientSecret": DEMO["clientSecret"]}
            token = http.post(f"{cloud.url}/auth/token", json=body).json()["accessToken"]
            key = f"{IDENTITY.account_ulid}/{IDENTITY.device_source}/y_cam0.png"
            r = http.post(
                f"{cloud.url}/events/files/upload",
                headers={"Authorization": token},
                json={"files": [{"BucketName": "v3-device-images", "FileName": key, "Size": 3}]},
            )
            upload_url = r.json()["files"][0]["uploadUrl"]
            assert upload_url.startswith(f"https://127.0.0.1:{cloud.port}/s3/")
            assert http.put(upload_url, content=b"abc").status_code == 200
        # Plain HTTP on the TLS port gets no answer; an untrusting client refuses the cert.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{cloud.port}/health", timeout=5)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{cloud.url}/health", timeout=5)
    finally:
        cloud.stop()


def test_tls_cert_without_key_fails_with_one_line(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls")
    r = subprocess.run(
        [
            str(REPO / "scripts" / "cloud"),
            *("--port", "0", "--data", str(tmp_path / "d"), "--tls-cert", str(tls["cert"])),
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip() == "cloud: TLS needs both a certificate and a key"
