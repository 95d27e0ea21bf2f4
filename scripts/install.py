"""Lay out a complete edge-agent box into a root directory (docs/install.md).

    scripts/install --root /                       # a real box, as root
    scripts/install --root DIR [--deps-from VENV]  # a staging tree (tests, inspection)

What it installs (paths relative to the root; LAYOUT below is the single list):
the service user and groups (a sysusers.d entry, applied), /opt/edge-agent (venv with the agent,
models, README), /etc/edge-agent/agent.toml (0600, never overwritten), /var/lib/edge-agent
(0700), the systemd unit, a polkit rule for the reboot order and Wi-Fi, a tmpfiles.d entry
recording the owners and modes, and a modules-load.d entry for the device drivers. Idempotent:
each step compares before it writes and prints what it changed; a re-run over a correct tree
prints ``nothing to change``.

Ownership: as root, files are chowned to the numeric ids of the user in the target's own
passwd/group (created there by ``systemd-sysusers --root``), never to the host's. Not as root,
nothing is chowned; the tmpfiles.d entry holds the intended owners and systemd-tmpfiles applies
them on the box's first boot (systemd-sysusers creates the user from the sysusers.d entry).
"""

from __future__ import annotations

import argparse
import grp
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
USER = "edge-agent"
GECOS = "Edge agent"
HOME = "/var/lib/edge-agent"
# Groups the user needs for its devices: serial adapters and V4L2 cameras (every distribution
# has them), GPIO character devices (only where the distribution has a gpio group).
DEVICE_GROUPS = ("dialout", "video")
OPTIONAL_GROUPS = ("gpio",)
OPT = "/opt/edge-agent"
VENV = f"{OPT}/.venv"
UNIT = "/etc/systemd/system/edge-agent.service"
POLKIT_RULE = "/etc/polkit-1/rules.d/50-edge-agent.rules"
SYSUSERS = "/usr/lib/sysusers.d/edge-agent.conf"
TMPFILES = "/usr/lib/tmpfiles.d/edge-agent.conf"
CONFIG = "/etc/edge-agent/agent.toml"
MODULES_LOAD = "/usr/lib/modules-load.d/edge-agent.conf"
# The unit's DeviceAllow=char-ttyUSB/char-ttyACM/char-video4linux are resolved against
# /proc/devices when the unit starts: a driver loaded later (adapter plugged in after boot)
# would stay denied. Loading the class drivers at boot puts their majors there first.
BOOT_MODULES = ("usbserial", "cdc_acm", "videodev")
# The reboot order (logind) and Wi-Fi management (nmcli -> NetworkManager): the service user
# has no session and no capability, so polkit must say yes explicitly.
POLKIT_ACTIONS = (
    "org.freedesktop.login1.reboot",
    "org.freedesktop.login1.reboot-multiple-sessions",
    "org.freedesktop.login1.reboot-ignore-inhibit",
    "org.freedesktop.NetworkManager.network-control",
    "org.freedesktop.NetworkManager.settings.modify.system",
    "org.freedesktop.NetworkManager.enable-disable-wifi",
    "org.freedesktop.NetworkManager.wifi.scan",
)


@dataclass(frozen=True)
class Entry:
    """One path with the owner, group and mode the box must have."""

    path: str
    kind: str  # "d" directory, "f" file
    mode: int
    owner: str = "root"
    group: str = "root"


# Directories and files the installer owns. System directories it only creates when missing
# (etc/systemd/system, ...) are not listed: their modes belong to the distribution.
LAYOUT = (
    Entry(OPT, "d", 0o755),
    Entry(f"{OPT}/models", "d", 0o755),
    Entry("/etc/edge-agent", "d", 0o750, "root", USER),
    Entry(CONFIG, "f", 0o600, USER, USER),
    Entry(HOME, "d", 0o700, USER, USER),
    Entry(UNIT, "f", 0o644),
    Entry(POLKIT_RULE, "f", 0o644),
    Entry(SYSUSERS, "f", 0o644),
    Entry(TMPFILES, "f", 0o644),
    Entry(MODULES_LOAD, "f", 0o644),
)
MODES = {e.path: e for e in LAYOUT}


def polkit_rule() -> str:
    actions = ",\n".join(f'        "{a}"' for a in POLKIT_ACTIONS)
    return f"""\
// Installed by edge-agent's scripts/install (docs/install.md). The edge-agent service runs
// with no session and no capability: let its user reboot through logind (the reboot order)
// and manage Wi-Fi through NetworkManager (nmcli). Any other request falls through.
polkit.addRule(function (action, subject) {{
    var allowed = [
{actions}
    ];
    if (subject.user === "{USER}" && allowed.indexOf(action.id) >= 0) {{
        return polkit.Result.YES;
    }}
    return polkit.Result.NOT_HANDLED;
}});
"""


def sysusers_conf(groups: list[str]) -> str:
    lines = [
        "# Installed by edge-agent's scripts/install (docs/install.md): the service user,",
        "# its own group (the control socket's group) and its device groups.",
        f'u {USER} - "{GECOS}" {HOME}',
    ]
    lines += [f"m {USER} {g}" for g in groups]
    return "\n".join(lines) + "\n"


def tmpfiles_conf() -> str:
    lines = [
        "# Installed by edge-agent's scripts/install (docs/install.md): the owners and modes",
        "# of the box's own paths; systemd-tmpfiles applies them at boot. /run/edge-agent is",
        "# the unit's RuntimeDirectory=.",
    ]
    for e in LAYOUT:
        if e.path in {"/etc/edge-agent", HOME}:
            lines.append(f"d {e.path} {e.mode:04o} {e.owner} {e.group} -")
        elif e.path == CONFIG:
            lines.append(f"z {e.path} {e.mode:04o} {e.owner} {e.group} -")
    return "\n".join(lines) + "\n"


def modules_load_conf() -> str:
    return ("# Installed by edge-agent's scripts/install (docs/install.md): the drivers of the\n"
            "# device classes the unit's DeviceAllow= names, loaded before it starts.\n"
            + "".join(f"{m}\n" for m in BOOT_MODULES))


def read_db(path: Path) -> dict[str, list[str]]:
    """passwd/group file -> {name: fields}."""
    if not path.is_file():
        return {}
    rows = (line.split(":") for line in path.read_text().splitlines() if line and line[0] != "#")
    return {r[0]: r for r in rows if len(r) >= 4}


@dataclass
class Installer:
    root: Path
    deps_from: Path | None = None
    wheelhouse: Path | None = None
    models: Path = SRC / "models"
    initial_config: Path = SRC / "config" / "agent.toml"
    python: str = sys.executable
    changes: list[str] = field(default_factory=list)

    @property
    def real(self) -> bool:
        return self.root == Path("/")

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def t(self, path: str) -> Path:
        """A box path inside the root."""
        return self.root / path.lstrip("/")

    def changed(self, what: str) -> None:
        self.changes.append(what)
        print(f"install: {what}", flush=True)

    # --- accounts -----------------------------------------------------------------------------
    def group_exists(self, name: str) -> bool:
        if self.real:
            try:
                grp.getgrnam(name)
            except KeyError:
                return False
            return True
        return name in read_db(self.t("/etc/group"))

    def ids(self) -> tuple[int, int] | None:
        """The service user's uid and gid in the target's own user database."""
        if self.real:
            try:
                pw = pwd.getpwnam(USER)
            except KeyError:
                return None
            return pw.pw_uid, pw.pw_gid
        row = read_db(self.t("/etc/passwd")).get(USER)
        return (int(row[2]), int(row[3])) if row else None

    def accounts(self) -> None:
        groups = list(DEVICE_GROUPS) + [g for g in OPTIONAL_GROUPS if self.group_exists(g)]
        conf = self.t(SYSUSERS)
        self.write(SYSUSERS, sysusers_conf(groups))
        if not self.as_root:
            print("install: not root: user creation and ownership left to systemd-sysusers and "
                  f"systemd-tmpfiles at first boot ({SYSUSERS}, {TMPFILES})")
            return
        dbs = [self.t(p) for p in ("/etc/passwd", "/etc/group")]
        before = [p.read_bytes() if p.exists() else b"" for p in dbs]
        if shutil.which("systemd-sysusers"):
            self.t("/etc").mkdir(parents=True, exist_ok=True)
            cmd = ["systemd-sysusers", str(conf)]
            if not self.real:
                cmd.insert(1, f"--root={self.root}")
            run(cmd)
        elif self.real:
            self.useradd(groups)
        else:
            sys.exit("install: systemd-sysusers is needed to create the user inside --root")
        if [p.read_bytes() if p.exists() else b"" for p in dbs] != before:
            self.changed(f"user {USER} (groups {', '.join(groups)}) in {self.t('/etc/passwd')}")

    def useradd(self, groups: list[str]) -> None:
        try:
            pwd.getpwnam(USER)
        except KeyError:
            run(["useradd", "--system", "--user-group", "--home-dir", HOME, "--no-create-home",
                 "--shell", "/usr/sbin/nologin", "--comment", GECOS, USER])
        for g in groups:
            try:
                members = grp.getgrnam(g).gr_mem
            except KeyError:
                run(["groupadd", "--system", g])
                members = []
            if USER not in members:
                run(["usermod", "--append", "--groups", g, USER])

    # --- files --------------------------------------------------------------------------------
    def mkdir(self, path: str) -> None:
        p = self.t(path)
        if not p.is_dir():
            p.mkdir(parents=True)
            entry = MODES.get(path)
            p.chmod(entry.mode if entry else 0o755)  # before anything goes in
            self.changed(f"mkdir {p}")

    def write(self, path: str, content: str | bytes, *, keep: bool = False) -> None:
        """Write a file whose content the installer owns (keep: only if missing)."""
        p = self.t(path)
        data = content.encode() if isinstance(content, str) else content
        self.mkdir(str(Path(path).parent))
        if p.exists() and (keep or p.read_bytes() == data):
            return
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.unlink(missing_ok=True)
        # Created 0600, so a secret is never readable by others, not even for a moment.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        entry = MODES.get(path)
        tmp.chmod(entry.mode if entry else 0o644)
        tmp.replace(p)
        self.changed(f"wrote {p}")

    def copy(self, src: Path, path: str) -> None:
        self.write(path, src.read_bytes())

    def enforce(self) -> None:
        """Modes everywhere; owners as root (the target's numeric ids)."""
        ids = self.ids() if self.as_root else None
        if self.as_root and ids is None:
            sys.exit(f"install: user {USER} missing in {self.t('/etc/passwd')}")
        numeric = {"root": 0, USER: ids[0] if ids else 0}
        gnumeric = {"root": 0, USER: ids[1] if ids else 0}
        for e in LAYOUT:
            p = self.t(e.path)
            st = p.stat()
            if st.st_mode & 0o7777 != e.mode:
                p.chmod(e.mode)
                self.changed(f"chmod {e.mode:04o} {p}")
            if ids is not None:
                uid, gid = numeric[e.owner], gnumeric[e.group]
                if (st.st_uid, st.st_gid) != (uid, gid):
                    os.chown(p, uid, gid)
                    self.changed(f"chown {e.owner}:{e.group} ({uid}:{gid}) {p}")

    # --- steps --------------------------------------------------------------------------------
    def layout(self) -> None:
        for e in LAYOUT:
            if e.kind == "d":
                self.mkdir(e.path)
        self.copy(SRC / "systemd" / "edge-agent.service", UNIT)
        self.write(POLKIT_RULE, polkit_rule())
        self.write(TMPFILES, tmpfiles_conf())
        self.write(MODULES_LOAD, modules_load_conf())
        self.copy(SRC / "README.md", f"{OPT}/README.md")
        # The config holds the cloud secret: installed once, then the box's own.
        self.write(CONFIG, self.initial_config.read_bytes(), keep=True)

    def install_models(self) -> None:
        import json

        manifest = json.loads((self.models / "manifest.json").read_text())
        for key, model in manifest["models"].items():
            src = self.models / model["onnx"]
            if not src.is_file():
                sys.exit(f"install: {src} missing ({key} model): run scripts/fetch_models "
                         "(scripts/bootstrap does) or pass --models DIR")
            digest = hashlib.sha256(src.read_bytes()).hexdigest()
            if digest != model["onnx_sha256"]:
                sys.exit(f"install: {src} does not match its sha256 in manifest.json")
            self.copy(src, f"{OPT}/models/{model['onnx']}")
        for name in ("manifest.json", "NOTICE"):
            self.copy(self.models / name, f"{OPT}/models/{name}")

    def stamp(self) -> str:
        """What the venv was built from: the lock, the project and its source, the mode."""
        h = hashlib.sha256()
        mode = f"deps-from={self.deps_from}" if self.deps_from else f"lock python={self.python}"
        h.update(mode.encode())
        files = [SRC / "requirements.lock", SRC / "pyproject.toml", SRC / "README.md"]
        files += sorted(p for p in (SRC / "agent").rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts)
        for p in files:
            h.update(str(p.relative_to(SRC)).encode() + b"\0" + p.read_bytes() + b"\0")
        return h.hexdigest()[:16]

    def venv(self) -> None:
        venv = self.t(VENV)
        stamp_file = venv / ".install-stamp"
        want = self.stamp()
        exe = venv / "bin" / "edge-agent"
        if stamp_file.is_file() and stamp_file.read_text().strip() == want and exe.exists():
            return
        pip_opts = ["--disable-pip-version-check", "--quiet"]
        if self.wheelhouse:
            pip_opts += ["--no-index", "--find-links", str(self.wheelhouse)]
        if self.deps_from:
            # A dev/test shortcut: the packages of an existing venv (same Python) are put on the
            # new venv's path by a .pth file; only the agent itself is installed into it.
            base = str(self.deps_from / "bin" / "python")
            if not (venv / "bin" / "python").exists():
                run([base, "-m", "venv", "--without-pip", str(venv)])
            site = run([str(venv / "bin" / "python"), "-c",
                        "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       capture=True).strip()
            deps_site = run([base, "-c",
                             "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture=True).strip()
            Path(site, "_edge_agent_deps.pth").write_text(deps_site + "\n")
        else:
            if not (venv / "bin" / "python").exists():
                run([self.python, "-m", "venv", str(venv)])
            deps = tomllib.loads((SRC / "pyproject.toml").read_text())["project"]["dependencies"]
            run([str(venv / "bin" / "python"), "-m", "pip", "install", *pip_opts,
                 "--constraint", str(SRC / "requirements.lock"), *deps])
        # The agent from a clean copy of the source (pip builds in-tree otherwise).
        with tempfile.TemporaryDirectory(prefix="edge-agent-src-") as tmp:
            for name in ("pyproject.toml", "README.md"):
                shutil.copy2(SRC / name, tmp)
            shutil.copytree(SRC / "agent", Path(tmp, "agent"),
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            run([str(venv / "bin" / "python"), "-m", "pip", "install", *pip_opts,
                 "--no-deps", "--force-reinstall", tmp])
        run([str(exe), "--help"], capture=True, cwd="/")
        stamp_file.write_text(want + "\n")
        self.changed(f"venv {venv} (agent installed, `edge-agent --help` runs)")

    def reload_systemd(self, unit_before: bytes | None) -> None:
        unit = self.t(UNIT).read_bytes()
        if self.real and unit != unit_before and Path("/run/systemd/system").is_dir():
            run(["systemctl", "daemon-reload"])

    def run(self) -> None:
        os.umask(0o022)  # the venv and models must be readable by the service user
        unit_before = self.t(UNIT).read_bytes() if self.t(UNIT).exists() else None
        self.mkdir("/")
        self.accounts()
        self.layout()
        self.install_models()
        self.venv()
        self.enforce()
        self.reload_systemd(unit_before)
        if self.changes:
            print(f"install: {len(self.changes)} change(s) in {self.root}")
        else:
            print(f"install: nothing to change in {self.root}")


def run(cmd: list[str], *, capture: bool = False, cwd: str | None = None) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, check=False)
    if res.returncode != 0:
        sys.exit(f"install: {' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}{res.stderr}")
    return res.stdout if capture else ""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="scripts/install",
        description="Lay out a complete edge-agent box (user, directories, venv, models, "
                    "config, unit, polkit rule) into --root. Idempotent.")
    ap.add_argument("--root", type=Path, required=True,
                    help="target root: / on a real box (as root), or a staging directory")
    ap.add_argument("--deps-from", type=Path, metavar="VENV",
                    help="dev/test shortcut: take the locked packages from this existing venv "
                         "(via a .pth file) instead of installing them")
    ap.add_argument("--wheelhouse", type=Path, metavar="DIR",
                    help="install offline from these wheels (pip --no-index --find-links)")
    ap.add_argument("--models", type=Path, default=SRC / "models", metavar="DIR",
                    help="the built models and manifest.json (default: models/ of this checkout)")
    ap.add_argument("--config", type=Path, default=SRC / "config" / "agent.toml",
                    metavar="FILE", help="the config installed when the box has none")
    ap.add_argument("--python", default=sys.executable,
                    help="the interpreter the venv is built on (default: this one)")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    if root == Path("/") and os.geteuid() != 0:
        sys.exit("install: --root / needs root")
    Installer(root=root, deps_from=args.deps_from and args.deps_from.absolute(),
              wheelhouse=args.wheelhouse, models=args.models.resolve(),
              initial_config=args.config, python=args.python).run()


if __name__ == "__main__":
    main()
