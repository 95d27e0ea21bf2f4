"""One connected ELM327 + vehicle: initialisation, supported-PID discovery, PID and DTC reads.

Shared by :class:`agent.sources.obd.source.ObdSource` (polling) and ``edge-agent diag obd``.
Blocking: runs in the thread that owns the serial port.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from agent.sources.obd.elm327 import Elm327, ElmError, ElmStoppedError
from agent.sources.obd.pids import SUPPORT_PIDS, Pid, decode_dtcs, supported_pids

CAN_PROTOCOLS = frozenset("6789ABC")  # ATDPN digits of the ISO 15765-4 / J1939 protocols


@dataclass(frozen=True, slots=True)
class ObdInfo:
    version: str  # adapter's ATZ banner, e.g. "ELM327 v1.5"
    protocol: str  # ATDPN, e.g. "A6" (auto-detected ISO 15765-4 CAN 11 bit 500 kbit/s)
    supported: frozenset[int]  # service 01 PIDs the vehicle declares

    @property
    def is_can(self) -> bool:
        return self.protocol[-1:] in CAN_PROTOCOLS


class ObdSession:
    """Requests over an initialised adapter; every failed request is counted by kind."""

    def __init__(self, elm: Elm327, connect_timeout_s: float = 15.0) -> None:
        self.elm = elm
        self.connect_timeout_s = connect_timeout_s
        self.errors: Counter[str] = Counter()

    def _count(self, exc: ElmError) -> None:
        if not isinstance(exc, ElmStoppedError):  # our own stop request is not an adapter error
            self.errors[exc.kind] += 1

    def initialize(self) -> str:
        """Reset and configure the adapter (no vehicle involved); its banner, e.g. ELM327 v1.5."""
        try:
            return self.elm.initialize()
        except ElmError as exc:
            self._count(exc)
            raise

    def discover(self, version: str = "") -> ObdInfo:
        """PID 00 (the first request makes the adapter find the protocol), the next bitmaps
        while each announces the following range, and ATDPN."""
        try:
            supported: set[int] = set()
            for base in SUPPORT_PIDS:
                if base and base not in supported:
                    break  # the previous bitmap does not announce this range
                timeout = self.connect_timeout_s if base == 0 else None
                try:
                    bitmaps = self.elm.request(0x01, base, timeout)
                except ElmError as exc:
                    if base == 0:
                        raise
                    self._count(exc)
                    break
                for bitmap in bitmaps:  # one per answering ECU
                    supported |= supported_pids(base, bitmap)
            protocol = self.elm.protocol_number()
        except ElmError as exc:
            self._count(exc)
            raise
        return ObdInfo(version or self.elm.version, protocol, frozenset(supported))

    def connect(self) -> ObdInfo:
        """:meth:`initialize` then :meth:`discover`."""
        return self.discover(self.initialize())

    def read_pid(self, pid: Pid) -> float:
        """The PID's value from the first ECU that answers it (raises :class:`ElmError`)."""
        try:
            payloads = self.elm.request(0x01, pid.pid)
            for data in payloads:
                if len(data) >= pid.size:
                    return pid.decode(data)
            raise ElmError("bad_response", f"01{pid.pid:02X} -> {payloads!r}: too short")
        except ElmError as exc:
            self._count(exc)
            raise

    def read_dtcs(self) -> tuple[str, ...]:
        """Stored DTCs (service 03). ``NO DATA`` means none stored on some older ECUs."""
        try:
            payloads = self.elm.request(0x03)
        except ElmError as exc:
            if exc.kind == "no_data":
                return ()
            self._count(exc)
            raise
        return decode_dtcs(payloads)
