"""scripts/install --root DIR for real, and the unit's hardening (docs/install.md).

The box venv reuses the packages of the venv running these tests (``--deps-from``) so the
install takes seconds; the agent itself is really built and installed into the box venv.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "edge-agent.service"
sys.path.insert(0, str(REPO / "scripts"))
import install  # noqa: E402  (scripts/install.py: its layout and polkit actions are the spec)

AS_ROOT = os.geteuid() == 0
MAX_EXPOSURE = 2.5


def _models_dir() -> Path | None:
    """This checkout's built models, else those of the checkout the test venv belongs to."""
    for d in (REPO / "models", Path(sys.prefix).parent / "models"):
        manifest = d / "manifest.json"
        if manifest.is_file():
            models = json.loads(manifest.read_text())["models"].values()
            if all((d / m["onnx"]).is_file() for m in models):
                return d
    return None


def _install(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    models = _models_dir()
    if models is None:
        pytest.skip("models not built (scripts/fetch_models)")
    if sys.prefix == sys.base_prefix:
        pytest.skip("tests must run in the project venv (the box venv reuses its packages)")
    return subprocess.run(
        [str(REPO / "scripts" / "install"), "--root", str(root), "--deps-from", sys.prefix,
         "--models", str(models), *extra],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHON": sys.executable})


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("box")
    res = _install(root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "change(s)" in res.stdout
    return root


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _db(path: Path) -> dict[str, list[str]]:
    return {r[0]: r for r in (line.split(":") for line in path.read_text().splitlines())}


def test_refuses_to_run_without_root(tmp_path: Path) -> None:
    res = subprocess.run([str(REPO / "scripts" / "install")], capture_output=True, text=True,
                         cwd=tmp_path, check=False, env={**os.environ, "PYTHON": sys.executable})
    assert res.returncode == 2
    assert "--root" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_tree_has_every_file_with_its_mode(box: Path) -> None:
    for e in install.LAYOUT:
        p = box / e.path.lstrip("/")
        assert p.is_dir() if e.kind == "d" else p.is_file(), e.path
        assert _mode(p) == e.mode, f"{e.path}: {_mode(p):04o} != {e.mode:04o}"
    assert _mode(box / "etc/edge-agent/agent.toml") == 0o600
    assert _mode(box / "etc/edge-agent") == 0o750
    assert _mode(box / "var/lib/edge-agent") == 0o700
    assert (box / "etc/edge-agent/agent.toml").read_bytes() == \
        (REPO / "config/agent.toml").read_bytes()
    unit = box / "etc/systemd/system/edge-agent.service"
    assert unit.read_bytes() == UNIT.read_bytes()
    assert "RuntimeDirectory=edge-agent" in unit.read_text()  # /run/edge-agent, control socket
    models = box / "opt/edge-agent/models"
    manifest = json.loads((models / "manifest.json").read_text())
    for m in manifest["models"].values():
        digest = hashlib.sha256((models / m["onnx"]).read_bytes()).hexdigest()
        assert digest == m["onnx_sha256"]
    assert (box / "opt/edge-agent/README.md").is_file()  # the unit's Documentation=
    # The drivers behind DeviceAllow=char-ttyUSB, char-ttyACM, char-video4linux load at boot.
    modules = (box / "usr/lib/modules-load.d/edge-agent.conf").read_text().split()
    assert {"usbserial", "cdc_acm", "videodev"} <= set(modules)


def test_polkit_rule_allows_reboot_and_wifi_to_the_service_user_only(box: Path) -> None:
    rule = (box / "etc/polkit-1/rules.d/50-edge-agent.rules").read_text()
    for action in ("org.freedesktop.login1.reboot",
                   "org.freedesktop.login1.reboot-multiple-sessions",
                   "org.freedesktop.login1.reboot-ignore-inhibit",
                   "org.freedesktop.NetworkManager.settings.modify.system"):
        assert f'"{action}"' in rule
    assert 'subject.user === "edge-agent"' in rule
    assert "polkit.addRule(function (action, subject) {" in rule
    assert "polkit.Result.YES" in rule and "polkit.Result.NOT_HANDLED" in rule
    code = re.sub(r"//[^\n]*|\"[^\"]*\"", "", rule)
    for o, c in ("()", "[]", "{}"):
        assert code.count(o) == code.count(c), f"unbalanced {o}{c}"
    node = shutil.which("node")
    if node:  # a real JavaScript parse (polkit runs the rule in duktape, ES5)
        subprocess.run([node, "-e", "new (require('vm').Script)(require('fs')"
                        ".readFileSync(0, 'utf8'))"], input=rule, text=True, check=True)


def test_service_user_and_ownership(box: Path) -> None:
    sysusers = (box / "usr/lib/sysusers.d/edge-agent.conf").read_text()
    assert 'u edge-agent - "Edge agent" /var/lib/edge-agent' in sysusers
    assert "m edge-agent dialout" in sysusers and "m edge-agent video" in sysusers
    tmpfiles = (box / "usr/lib/tmpfiles.d/edge-agent.conf").read_text().splitlines()
    assert "d /etc/edge-agent 0750 root edge-agent -" in tmpfiles
    assert "z /etc/edge-agent/agent.toml 0600 edge-agent edge-agent -" in tmpfiles
    assert "d /var/lib/edge-agent 0700 edge-agent edge-agent -" in tmpfiles
    if not AS_ROOT:
        pytest.skip("not root: no user created, ownership recorded in tmpfiles.d only")
    # As root: the user exists in the box's own passwd (not the host's) and the box's paths
    # belong to its numeric ids.
    user = _db(box / "etc/passwd")["edge-agent"]
    uid, gid = int(user[2]), int(user[3])
    assert user[5] == "/var/lib/edge-agent"
    groups = _db(box / "etc/group")
    assert int(groups["edge-agent"][2]) == gid
    for g in ("dialout", "video"):
        assert "edge-agent" in groups[g][3].split(","), g
    for e in install.LAYOUT:
        st = (box / e.path.lstrip("/")).stat()
        want = (0 if e.owner == "root" else uid, 0 if e.group == "root" else gid)
        assert (st.st_uid, st.st_gid) == want, e.path
    assert (box / "opt/edge-agent/.venv/bin/python").stat().st_uid == 0  # code: root's


def test_not_root_leaves_users_and_owners_to_first_boot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not as root nothing is chowned and no passwd is written: the sysusers.d and tmpfiles.d
    entries carry the user and the owners to the box's first boot."""
    monkeypatch.setattr(install.os, "geteuid", lambda: 1000)
    inst = install.Installer(root=tmp_path / "box")
    inst.mkdir("/")
    inst.accounts()
    inst.layout()
    inst.enforce()
    root = tmp_path / "box"
    assert not (root / "etc/passwd").exists()
    assert (root / "usr/lib/sysusers.d/edge-agent.conf").is_file()
    assert "d /var/lib/edge-agent 0700 edge-agent edge-agent -" in \
        (root / "usr/lib/tmpfiles.d/edge-agent.conf").read_text()
    for e in install.LAYOUT:
        st = (root / e.path.lstrip("/")).stat()
        assert stat.S_IMODE(st.st_mode) == e.mode, e.path
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), e.path


def test_box_venv_runs_edge_agent(box: Path) -> None:
    venv = box / "opt/edge-agent/.venv"
    res = subprocess.run([str(venv / "bin/edge-agent"), "--help"], capture_output=True,
                         text=True, cwd="/", timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert "run" in res.stdout and "diag" in res.stdout
    # The agent is installed into the box venv itself, not taken from a checkout.
    where = subprocess.run([str(venv / "bin/python"), "-c", "import agent; print(agent.__file__)"],
                           capture_output=True, text=True, cwd="/", check=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where


def _snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    snap: dict[str, tuple[object, ...]] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if "__pycache__" in p.parts or rel == "etc/.pwd.lock":
            continue
        st = p.lstat()
        key: tuple[object, ...] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        if stat.S_ISREG(st.st_mode):
            key += (st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        elif stat.S_ISLNK(st.st_mode):
            key += (os.readlink(p),)
        snap[rel] = key
    return snap


def test_rerun_changes_nothing_and_keeps_the_boxs_config(box: Path) -> None:
    config = box / "etc/edge-agent/agent.toml"
    edited = config.read_text() + '\n[rules]\nmax_speed_kmh = 80  # technician\n'
    config.write_text(edited)
    before = _snapshot(box)
    res = _install(box)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().splitlines()[-1] == f"install: nothing to change in {box}"
    assert _snapshot(box) == before
    # A wrong mode on the secret is corrected; its content is still the box's own.
    config.chmod(0o644)
    res = _install(box)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"install: chmod 0600 {config}" in res.stdout
    assert _mode(config) == 0o600
    assert config.read_text() == edited


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze not installed")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)


def test_unit_exposure_is_at_most_2_5() -> None:
    res = _analyze("security", "--offline=true", "--no-pager", str(UNIT))
    if "--offline" in res.stderr and "unrecognized" in res.stderr:
        pytest.skip("systemd-analyze has no --offline (systemd < 250)")
    found = re.search(r"Overall exposure level for edge-agent\.service: (\d+\.\d)", res.stdout)
    assert found, res.stdout + res.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, res.stdout


def test_unit_verifies_without_a_message(box: Path, tmp_path: Path) -> None:
    """`systemd-analyze verify` on the installed unit, its ExecStart pointed into the box
    (verify checks that the binary exists on this host). Verify exits 0 even for unknown keys,
    so any output at all fails the test."""
    text = (box / "etc/systemd/system/edge-agent.service").read_text()
    text = text.replace("ExecStart=/opt/edge-agent/", f"ExecStart={box}/opt/edge-agent/")
    unit = tmp_path / "edge-agent.service"
    unit.write_text(text)
    res = _analyze("verify", "--man=no", str(unit))
    assert res.returncode == 0, res.stderr
    assert (res.stdout + res.stderr).strip() == ""


MDWE_PROBE = textwrap.dedent("""
    import ctypes, json, sys
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux 6.3)
        sys.exit(77)
    import mmap
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        sys.exit("W+X mapping was allowed: MDWE not in force")
    except OSError:
        pass
    import cv2, numpy as np, onnxruntime as ort
    from pathlib import Path
    models = Path(sys.argv[1])
    for m in json.loads((models / "manifest.json").read_text())["models"].values():
        s = ort.InferenceSession(str(models / m["onnx"]), providers=["CPUExecutionProvider"])
        i = s.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        s.run(None, {i.name: np.random.rand(*shape).astype(np.float32)})
    img = (np.random.rand(480, 640, 3) * 255).astype(np.uint8)
    cv2.cvtColor(cv2.resize(img, (320, 240)), cv2.COLOR_BGR2GRAY)
    import agent.cli, httpx, aiomqtt, can, serial, sqlite3
    print("ok")
""")


def test_runtime_stack_runs_with_write_xor_execute() -> None:
    """MemoryDenyWriteExecute=yes holds: the models run in onnxruntime, OpenCV and the agent's
    imports work in a process that may not create or gain executable writable memory."""
    models = _models_dir()
    if models is None:
        pytest.skip("models not built (scripts/fetch_models)")
    res = subprocess.run([sys.executable, "-c", MDWE_PROBE, str(models)], capture_output=True,
                         text=True, timeout=120, check=False,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    if res.returncode == 77:
        pytest.skip("kernel without PR_SET_MDWE (Linux < 6.3)")
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stdout + res.stderr
