"""ModemManager backend: parse ``mmcli -J`` (JSON) output into a :class:`ModemSnapshot`.

Three documented ``mmcli`` calls, their keys as ModemManager's ``cli/mmcli-output.c`` names them
(every value a string; ``"--"`` = not known; lists for ``access-technologies``):

* ``mmcli -J -m <modem>``: ``modem.generic.state``, ``modem.generic.access-technologies``,
  ``modem.generic.signal-quality.value`` (percent, CSQ normalised ``* 100 / 31``),
  ``modem.generic.sim`` (the SIM's D-Bus path), ``modem.3gpp.registration-state``,
  ``modem.3gpp.operator-code`` (``"26201"``), ``modem.3gpp.operator-name``;
* ``mmcli -J -i <sim path>``: ``sim.properties.iccid``;
* ``mmcli -J -m <modem> --location-get``: ``modem.location.3gpp.mcc`` / ``.mnc`` (decimal),
  ``.lac`` / ``.tac`` (``%04lX``) and ``.cid`` (``%08lX``), filled only once the 3GPP location
  source is enabled (``mmcli -m any --location-enable-3gpp``; docs/modem.md).

ModemManager does not expose the timing advance: this backend reports 0 for it.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, replace
from typing import Any

from agent.errors import SourceError
from agent.events import NO_CELL, CellLink, ConnectionType
from agent.sources.readings import RegistrationState

# MMModemAccessTechnology names (mm_modem_access_technology_build_string_from_mask).
_ACCESS_TECH = {
    "gsm": ConnectionType.G2, "gsm-compact": ConnectionType.G2, "gprs": ConnectionType.G2,
    "edge": ConnectionType.G2, "umts": ConnectionType.G3, "hsdpa": ConnectionType.G3,
    "hsupa": ConnectionType.G3, "hspa": ConnectionType.G3, "hspa-plus": ConnectionType.G3,
    "1xrtt": ConnectionType.G2, "evdo0": ConnectionType.G3, "evdoa": ConnectionType.G3,
    "evdob": ConnectionType.G3, "lte": ConnectionType.G4, "lte-cat-m": ConnectionType.G4,
    "lte-nb-iot": ConnectionType.G4, "5gnr": ConnectionType.G5,
}  # fmt: skip

# MMModem3gppRegistrationState names.
_REGISTRATION = {
    "idle": RegistrationState.NOT_REGISTERED,
    "home": RegistrationState.HOME,
    "searching": RegistrationState.SEARCHING,
    "denied": RegistrationState.DENIED,
    "unknown": RegistrationState.UNKNOWN,
    "roaming": RegistrationState.ROAMING,
    "home-sms-only": RegistrationState.HOME,
    "roaming-sms-only": RegistrationState.ROAMING,
    "emergency-only": RegistrationState.NOT_REGISTERED,
    "home-csfb-not-preferred": RegistrationState.HOME,
    "roaming-csfb-not-preferred": RegistrationState.ROAMING,
    "attached-rlos": RegistrationState.NOT_REGISTERED,
}


@dataclass(frozen=True, slots=True)
class ModemSnapshot:
    """What one round of ``mmcli`` calls said (``cell.timing_advance`` is always 0)."""

    registration: RegistrationState = RegistrationState.UNKNOWN
    cell: CellLink = NO_CELL
    operator: str = ""
    sim_path: str = ""
    iccid: str = ""
    state: str = ""


def _get(doc: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return None if doc == "--" else doc


def _int(value: Any, base: int = 10) -> int:
    if not isinstance(value, str) or not value:
        return 0
    try:
        return int(value, base)
    except ValueError:
        return 0


def parse_modem(doc: Any) -> ModemSnapshot:
    """``mmcli -J -m <modem>``."""
    if _get(doc, "modem") is None:
        raise ValueError("no 'modem' object in mmcli output")
    techs = _get(doc, "modem", "generic", "access-technologies") or []
    rat = max((_ACCESS_TECH.get(t, ConnectionType.UNKNOWN) for t in techs if isinstance(t, str)),
              default=ConnectionType.UNKNOWN)
    reg = _REGISTRATION.get(str(_get(doc, "modem", "3gpp", "registration-state")),
                            RegistrationState.UNKNOWN)
    code = _get(doc, "modem", "3gpp", "operator-code") or ""
    mcc = mnc = 0
    if isinstance(code, str) and code.isdigit() and len(code) in (5, 6):
        mcc, mnc = int(code[:3]), int(code[3:])
    pct = min(100, max(0, _int(_get(doc, "modem", "generic", "signal-quality", "value"))))
    return ModemSnapshot(
        registration=reg,
        cell=CellLink(ConnectionType(rat), signal_pct=pct, mcc=mcc, mnc=mnc),
        operator=str(_get(doc, "modem", "3gpp", "operator-name") or ""),
        sim_path=str(_get(doc, "modem", "generic", "sim") or ""),
        state=str(_get(doc, "modem", "generic", "state") or ""),
    )


def parse_sim(doc: Any) -> str:
    """``mmcli -J -i <sim>`` -> the ICCID (``""`` when not known)."""
    iccid = _get(doc, "sim", "properties", "iccid")
    return iccid if isinstance(iccid, str) and iccid.isdigit() else ""


def parse_location(doc: Any) -> tuple[int, int, int, int]:
    """``mmcli -J -m <modem> --location-get`` -> (mcc, mnc, tac else lac, cell id).

    The TAC (LTE/NR) is preferred, as the AT backend prefers ``+CEREG``; a LAC of 0xFFFE or
    0xFFFF (3GPP TS 24.008: deleted / no valid LAI, what an LTE-only attach shows) is none.
    """
    loc = _get(doc, "modem", "location", "3gpp")
    if not isinstance(loc, dict):
        return 0, 0, 0, 0
    lac = _int(_get(loc, "lac"), 16)
    lac = _int(_get(loc, "tac"), 16) or (0 if lac in (0xFFFE, 0xFFFF) else lac)
    return _int(_get(loc, "mcc")), _int(_get(loc, "mnc")), lac, _int(_get(loc, "cid"), 16)


class Mmcli:
    """Runs ``mmcli -J`` (blocking; the modem source's thread calls it)."""

    def __init__(self, modem: str = "any", executable: str = "mmcli",
                 timeout_s: float = 10.0) -> None:
        self.modem = modem
        self.executable = executable
        self.timeout_s = timeout_s

    def _run(self, *args: str) -> Any:
        try:
            done = subprocess.run([self.executable, "-J", *args], capture_output=True,
                                  timeout=self.timeout_s, check=False, text=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SourceError(f"mmcli {' '.join(args)}: {exc}") from exc
        if done.returncode != 0:
            err = (done.stderr or done.stdout).strip().splitlines()
            raise SourceError(f"mmcli {' '.join(args)}: exit {done.returncode}: "
                              f"{err[-1] if err else ''}")
        try:
            return json.loads(done.stdout)
        except ValueError as exc:
            raise SourceError(f"mmcli {' '.join(args)}: not JSON: {exc}") from exc

    def snapshot(self, with_sim: bool = True) -> ModemSnapshot:
        try:
            snap = parse_modem(self._run("-m", self.modem))
        except ValueError as exc:
            raise SourceError(f"mmcli -m {self.modem}: {exc}") from exc
        iccid = ""
        if with_sim and snap.sim_path:
            iccid = parse_sim(self._run("-i", snap.sim_path))
        try:
            lmcc, lmnc, lac, cid = parse_location(self._run("-m", self.modem, "--location-get"))
        except SourceError:  # location not enabled or not supported: cell fields stay 0
            lmcc = lmnc = lac = cid = 0
        mcc = snap.cell.mcc
        cell = replace(snap.cell, mcc=mcc or lmcc, mnc=snap.cell.mnc if mcc else lmnc,
                       location_area_code=lac, cell_id=cid)
        return replace(snap, cell=cell, iccid=iccid)
