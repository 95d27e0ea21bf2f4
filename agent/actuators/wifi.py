"""Wi-Fi networks added and deleted by orders (``wifi.add`` / ``wifi.delete``), keyed by the
cloud's ``wifiUlid``.

Backends: ``nmcli`` (NetworkManager: a keyfile written 0600 into NetworkManager's connection
directory, then ``nmcli connection load``, so the passphrase never appears on a command line,
in ``ps`` or in a log) and ``sim`` (the state file only). Both remember the networks in the
state file (0600; it holds the passphrases). Passwords never appear in a log line, an event,
a status or an exception text. Calls block: run them in a thread.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from agent.actuators.settings import WifiSettings
from agent.errors import AgentError
from agent.orders.model import write_secret

log = logging.getLogger(__name__)

NM_DIR: Final = Path("/etc/NetworkManager/system-connections")
_SAFE = re.compile(r"[^0-9A-Za-z_-]")


class WifiError(AgentError):
    pass


class WifiBackend(ABC):
    def __init__(self, settings: WifiSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()

    def networks(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.settings.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def listed(self) -> list[dict[str, str]]:
        """The networks without their passwords (diagnostics)."""
        return [{"wifiUlid": k, "ssid": v.get("ssid", "")} for k, v in self.networks().items()]

    def add(self, wifi_ulid: str, ssid: str, password: str) -> str:
        with self._lock:
            nets = self.networks()
            self._add(wifi_ulid, ssid, password)
            nets[wifi_ulid] = {"ssid": ssid, "password": password}
            write_secret(self.settings.state_file, json.dumps(nets, sort_keys=True).encode())
        return f"Wi-Fi network {ssid!r} added (wifiUlid {wifi_ulid})"

    def delete(self, wifi_ulid: str) -> str:
        with self._lock:
            nets = self.networks()
            if wifi_ulid not in nets:
                return f"no Wi-Fi network with wifiUlid {wifi_ulid} (nothing to delete)"
            self._delete(wifi_ulid)
            ssid = nets.pop(wifi_ulid).get("ssid", "")
            write_secret(self.settings.state_file, json.dumps(nets, sort_keys=True).encode())
        return f"Wi-Fi network {ssid!r} deleted (wifiUlid {wifi_ulid})"

    @abstractmethod
    def _add(self, wifi_ulid: str, ssid: str, password: str) -> None: ...

    @abstractmethod
    def _delete(self, wifi_ulid: str) -> None: ...


class SimWifi(WifiBackend):
    def _add(self, wifi_ulid: str, ssid: str, password: str) -> None:
        pass

    def _delete(self, wifi_ulid: str) -> None:
        pass


class NmcliWifi(WifiBackend):
    def __init__(self, settings: WifiSettings, nm_dir: Path = NM_DIR,
                 run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> None:
        super().__init__(settings)
        self.nm_dir = nm_dir
        self._run = run

    def _name(self, wifi_ulid: str) -> str:
        return "edge-" + _SAFE.sub("_", wifi_ulid)

    def _add(self, wifi_ulid: str, ssid: str, password: str) -> None:
        name = self._name(wifi_ulid)
        lines = ["[connection]", f"id={name}", "type=wifi", "autoconnect=true"]
        if self.settings.interface:
            lines.append(f"interface-name={self.settings.interface}")
        lines += ["", "[wifi]", "mode=infrastructure", f"ssid={_keyfile_escape(ssid)}"]
        if password:
            lines += ["", "[wifi-security]", "key-mgmt=wpa-psk",
                      f"psk={_keyfile_escape(password)}"]
        lines += ["", "[ipv4]", "method=auto", "", "[ipv6]", "method=auto", ""]
        path = self.nm_dir / f"{name}.nmconnection"
        try:
            write_secret(path, "\n".join(lines).encode())
        except OSError as exc:
            raise WifiError(f"cannot write the NetworkManager keyfile: {exc.strerror}") from None
        self._nmcli("connection", "load", str(path))

    def _delete(self, wifi_ulid: str) -> None:
        name = self._name(wifi_ulid)
        self._nmcli("connection", "delete", "id", name, missing_ok=True)
        (self.nm_dir / f"{name}.nmconnection").unlink(missing_ok=True)

    def _nmcli(self, *args: str, missing_ok: bool = False) -> None:
        try:
            r = self._run(["nmcli", *args], capture_output=True, text=True,
                          timeout=self.settings.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise WifiError(f"nmcli {args[0]} {args[1]}: {exc}") from None
        if r.returncode != 0 and not (missing_ok and r.returncode == 10):
            raise WifiError(f"nmcli {args[0]} {args[1]} failed ({r.returncode}): "
                            f"{(r.stderr or r.stdout).strip()[:200]}")


def _keyfile_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace(";", "\\;")


BACKENDS: dict[str, Callable[[WifiSettings], WifiBackend]] = {"sim": SimWifi, "nmcli": NmcliWifi}


def build_wifi(settings: WifiSettings) -> WifiBackend:
    return BACKENDS[settings.backend](settings)


def describe(backend: WifiBackend) -> dict[str, Any]:
    return {"backend": type(backend).__name__, "networks": backend.listed()}
