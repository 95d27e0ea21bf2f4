"""Rebooting the box (order ``reboot``, etrack ``RESET``).

Backends: ``logind`` (``busctl call org.freedesktop.login1 /org/freedesktop/login1
org.freedesktop.login1.Manager Reboot b false``: works under the hardened unit with the polkit
rule the install sets up), ``systemctl`` (``systemctl reboot``) and ``sim`` (writes a marker
file and returns: nothing restarts). :meth:`RebootBackend.reboot` returns True when the reboot
was only simulated (the order is then reported at once); a real one returns False once the
request was accepted, and the order is reported ``SUCCEEDED`` when the agent comes back in a
new boot (:func:`boot_id`).
"""

from __future__ import annotations

import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Final

from agent.actuators.settings import RebootSettings
from agent.errors import AgentError
from agent.orders.model import write_secret

BOOT_ID: Final = Path("/proc/sys/kernel/random/boot_id")
LOGIND: Final = ("busctl", "call", "org.freedesktop.login1", "/org/freedesktop/login1",
                 "org.freedesktop.login1.Manager", "Reboot", "b", "false")


class RebootError(AgentError):
    pass


def boot_id() -> str:
    """This boot's id (changes at every boot); '' when unknown."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


class RebootBackend(ABC):
    def __init__(self, settings: RebootSettings) -> None:
        self.settings = settings

    @abstractmethod
    def reboot(self) -> bool:
        """Ask for a reboot; True when only simulated."""


class _Command(RebootBackend):
    command: tuple[str, ...] = ()

    def __init__(self, settings: RebootSettings,
                 run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> None:
        super().__init__(settings)
        self._run = run

    def reboot(self) -> bool:
        try:
            r = self._run(list(self.command), capture_output=True, text=True,
                          timeout=self.settings.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RebootError(f"{self.command[0]}: {exc}") from None
        if r.returncode != 0:
            raise RebootError(f"{self.command[0]} failed ({r.returncode}): "
                              f"{(r.stderr or r.stdout).strip()[:200]}")
        return False


class LogindReboot(_Command):
    command = LOGIND


class SystemctlReboot(_Command):
    command = ("systemctl", "reboot")


class SimReboot(RebootBackend):
    def reboot(self) -> bool:
        write_secret(self.settings.sim_file, f"{time.time():.3f}\n".encode())
        return True


BACKENDS: dict[str, Callable[[RebootSettings], RebootBackend]] = {
    "sim": SimReboot, "logind": LogindReboot, "systemctl": SystemctlReboot}


def build_reboot(settings: RebootSettings) -> RebootBackend:
    return BACKENDS[settings.backend](settings)
