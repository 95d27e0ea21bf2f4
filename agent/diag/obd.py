"""``edge-agent diag obd --port P``: query an ELM327 adapter once and print what it reports.

Initialises the adapter, discovers the supported PIDs, reads each PID the agent polls once and
the stored trouble codes, and prints one JSON object. Exit status 1 if the adapter or the
vehicle does not answer.
"""

from __future__ import annotations

import argparse
import json
from contextlib import suppress
from typing import Any

import serial

from agent.errors import SourceError
from agent.sources.obd.elm327 import Elm327, ElmError
from agent.sources.obd.pids import POLLED_PIDS
from agent.sources.obd.session import ObdSession
from agent.sources.serialport import open_command_port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="serial port of the ELM327 adapter")
    parser.add_argument("--baudrate", type=int, default=38400)
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per request")
    parser.add_argument("--connect-timeout", type=float, default=15.0,
                        help="seconds for the first request (protocol search)")


def run(args: argparse.Namespace) -> int:
    try:
        port = open_command_port(args.port, args.baudrate)  # fails if the daemon has it
    except (serial.SerialException, OSError, ValueError) as exc:
        raise SourceError(f"cannot open {args.port}: {exc}") from exc
    session = ObdSession(Elm327(port, args.timeout), args.connect_timeout)
    report: dict[str, Any] = {"port": args.port}
    try:
        try:
            report["adapter"] = session.initialize()
            info = session.discover()
        except ElmError as exc:  # adapter silent (no "adapter" key) or vehicle not answering
            report.update(connected=False, error=str(exc), errors=dict(session.errors))
            print(json.dumps(report, indent=2, sort_keys=True))
            return 1
        report.update(connected=True, protocol=info.protocol,
                      can=info.is_can,
                      supported_pids=[f"{p:02X}" for p in sorted(info.supported)])
        readings: dict[str, Any] = {}
        unanswered: dict[str, str] = {}
        for pid in POLLED_PIDS:
            if pid.pid not in info.supported:
                continue
            try:
                value = session.read_pid(pid)
            except ElmError as exc:
                unanswered[pid.name] = str(exc)
                continue
            readings[pid.name] = {"pid": f"01{pid.pid:02X}", "value": value, "unit": pid.unit,
                                  "signal": pid.signal.value if pid.signal else None}
        report.update(readings=readings, unanswered=unanswered)
        try:
            report["dtcs"] = list(session.read_dtcs())
        except ElmError as exc:
            report["dtcs"] = None
            report["dtc_error"] = str(exc)
        report["errors"] = dict(session.errors)
    except (serial.SerialException, OSError) as exc:
        raise SourceError(f"adapter {args.port} lost: {exc}") from exc
    finally:
        with suppress(Exception):
            port.close()
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0
