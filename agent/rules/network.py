"""Cellular network lost (36) / restored (37), and SIM changed (hardware 12, tamper).

Lost: the modem reported no registration (not home, not roaming: searching, denied, out of
coverage) - or the modem itself went down - continuously for ``network_lost_after_s``, once it
had been registered since start. Restored: registered for ``network_restored_after_s`` after a
loss; ``outageS`` says how long the network was missing. Events raised while offline wait in
the outbox and go out with the rest when the network is back.

SIM changed: the ICCID the modem reads differs from the one stored before (the source keeps
the last ICCID in ``[vehicle.modem] iccid_file`` across restarts; without it, from the last one
seen in this run). One tamper event per new ICCID; ``Details`` names both.
"""

from __future__ import annotations

from agent.events import HardwareDetail, HardwareEventType, TelemetryEventType
from agent.rules.base import Rule, RuleOutput, telemetry
from agent.rules.settings import RuleThresholds
from agent.sources.readings import CellularStatus, SourceHealth
from agent.vehicle.inputs import StateInput
from agent.vehicle.state import VehicleState


class NetworkRule(Rule):
    def __init__(self) -> None:
        self._seen_online = False
        self._lost = False
        self._online_since: float | None = None
        self._offline_since: float | None = None
        self._lost_offline_since = 0.0
        self._registration = ""
        self._last_iccid = ""
        self._reported_iccid = ""

    def _update(self, t: float, online: bool) -> None:
        if online:
            self._seen_online = True
            self._offline_since = None
            if self._online_since is None:
                self._online_since = t
        else:
            self._online_since = None
            if self._offline_since is None:
                self._offline_since = t

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if isinstance(r, SourceHealth) and r.source == "modem" and not r.ok:
            self._registration = "modem down"
            self._update(r.t, False)
            return []
        if not isinstance(r, CellularStatus):
            return []
        self._registration = str(r.registration)
        self._update(r.t, r.registered)
        out: list[RuleOutput] = []
        if r.iccid:
            known = r.stored_iccid or self._last_iccid
            if known and r.iccid not in (known, self._reported_iccid):
                self._reported_iccid = r.iccid
                detail = HardwareDetail(HardwareEventType.TAMPER,
                                        details=f"sim changed: {known} -> {r.iccid}")
                out.append(RuleOutput(r.t, detail))
            self._last_iccid = r.iccid
        return out

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if not self._lost:
            off = self._offline_since
            if not self._seen_online or off is None or t - off < th.network_lost_after_s:
                return []
            self._lost = True
            self._lost_offline_since = off
            return [telemetry(t, TelemetryEventType.NETWORK_LOST,
                              {"registration": self._registration,
                               "offlineS": round(t - off, 1)})]
        on = self._online_since
        if on is None or t - on < th.network_restored_after_s:
            return []
        self._lost = False
        net = s.network
        return [telemetry(t, TelemetryEventType.NETWORK_RESTORED,
                          {"outageS": round(on - self._lost_offline_since, 1),
                           "signalPct": net.cell.signal_pct if net is not None else 0})]
