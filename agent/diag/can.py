"""``edge-agent diag can``: decode CAN traffic with the DBC and print one JSON object per frame.

    edge-agent diag can capture.log              # candump -L / candump -ta / SLCAN capture
    edge-agent diag can --port /dev/ttyUSB0      # live from an SLCAN adapter (listen-only)
    edge-agent diag can --backend socketcan --port can0 --duration 5

Each decoded frame prints ``{"t", "id", "pgn", "sa", "message", "values", "skipped",
"readings"}``; ``--unknown`` also prints frames the DBC does not describe. The last line is a
summary with the decoder's counters. Exit status 1 when no frame decoded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from agent.errors import SourceError
from agent.sources.can.decoder import DecodedFrame, J1939Decoder
from agent.sources.can.j1939 import pgn_of, source_address
from agent.sources.can.logfile import Frame, ReadStats, read_frames
from agent.sources.readings import SignalReading, TyreReading
from agent.sources.settings import CanSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, nargs="?", help="candump log or SLCAN capture")
    parser.add_argument("--port", help="live: serial port (slcan) or interface (socketcan)")
    parser.add_argument("--backend", choices=["slcan", "socketcan"], default="slcan")
    parser.add_argument("--bitrate", type=int, default=250_000)
    parser.add_argument("--duration", type=float, default=10.0, help="live: seconds to listen")
    parser.add_argument("--active", action="store_true",
                        help="live: open the adapter normally instead of listen-only")
    parser.add_argument("--dbc", type=Path, default=None, help="DBC instead of the shipped one")
    parser.add_argument("--unknown", action="store_true", help="print undecoded frames too")


def _frame_json(t: float | None, can_id: int, decoded: DecodedFrame | None) -> dict[str, Any]:
    out: dict[str, Any] = {"t": t, "id": f"{can_id:08X}", "pgn": pgn_of(can_id),
                           "sa": source_address(can_id)}
    if decoded is None:
        out["message"] = None
        return out
    out.update(message=decoded.message, values=decoded.values, skipped=decoded.skipped,
               readings={r.signal.value: r.value for r in decoded.readings
                         if isinstance(r, SignalReading)})
    tyres = [r for r in decoded.readings if isinstance(r, TyreReading)]
    if tyres:
        out["tyres"] = [{"location": r.location, "pressure_kpa": r.pressure_kpa,
                         "temperature_c": r.temperature_c, "leak_pa_s": r.leak_pa_s,
                         "status": r.tyre_status, "threshold": r.threshold} for r in tyres]
    return out


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")


def _one(decoder: J1939Decoder, f: Frame, show_unknown: bool) -> bool:
    decoded = decoder.explain(f.can_id, f.data, f.t or 0.0) if f.extended else None
    if decoded is None:
        decoder.decode(f.can_id, f.data, f.t or 0.0, f.extended)  # keep the counters honest
        if show_unknown:
            _emit(_frame_json(f.t, f.can_id, None))
        return False
    _emit(_frame_json(f.t, f.can_id, decoded))
    return True


def _from_file(decoder: J1939Decoder, path: Path, show_unknown: bool) -> tuple[int, ReadStats]:
    stats = ReadStats()
    decoded = 0
    for f in read_frames(path, stats):
        decoded += _one(decoder, f, show_unknown)
    return decoded, stats


def _live(decoder: J1939Decoder, args: argparse.Namespace) -> int:
    from agent.sources.can.bus import open_bus

    settings = CanSettings(backend=args.backend, channel=args.port, bitrate=args.bitrate,
                           listen_only=not args.active, open_delay_s=0.1, dbc=args.dbc)
    try:
        bus = open_bus(settings, decoder.pgns)
    except Exception as exc:
        raise SourceError(f"cannot open {args.backend} {args.port}: {exc}") from exc
    decoded = 0
    end = time.monotonic() + args.duration
    try:
        while (left := end - time.monotonic()) > 0:
            msg = bus.recv(min(left, 0.5))
            if msg is None or msg.is_error_frame or msg.is_remote_frame:
                continue
            frame = Frame(msg.timestamp, msg.arbitration_id, msg.is_extended_id, bytes(msg.data))
            decoded += _one(decoder, frame, args.unknown)
    finally:
        with suppress(Exception):
            bus.shutdown()
    return decoded


def run(args: argparse.Namespace) -> int:
    if (args.file is None) == (args.port is None):
        print("edge-agent diag can: give a capture FILE or --port", file=sys.stderr)
        return 2
    decoder = J1939Decoder.from_dbc(args.dbc)
    summary: dict[str, Any] = {}
    if args.file is not None:
        decoded, stats = _from_file(decoder, args.file, args.unknown)
        summary.update(lines=stats.lines, bad_lines=stats.bad_lines)
    else:
        decoded = _live(decoder, args)
    summary.update(decoder.counters())
    summary["decoded_frames"] = decoded
    _emit({"summary": summary})
    return 0 if decoded else 1
