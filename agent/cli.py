"""``edge-agent``: ``run`` starts the daemon; ``status``, ``watch``, ``selftest``, ``snapshot``
ask the running agent; ``diag ...`` are the technician's offline tools.

Each diagnostic lives in its own module under :mod:`agent.diag` exposing
``add_arguments(parser)`` and ``run(args) -> int``; they are imported only when chosen so a
missing optional part (a model, a camera library) never breaks the other commands.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.errors import AgentError, ConfigError

# name -> (module, one-line help)
TOP_COMMANDS: dict[str, tuple[str, str]] = {
    "status": ("agent.diag.status", "every component's health, GNSS, outbox (exit 1 unhealthy, "
                                    "3 not running)"),
    "watch": ("agent.diag.watch", "live view of gnss, can, dms or events from the running agent"),
    "selftest": ("agent.diag.selftest", "check ports, cameras, models, disk, clock, cloud; "
                                        "pass/fail per line"),
    "snapshot": ("agent.diag.live_snapshot", "save the newest frame of the live driver camera"),
    "outbox": ("agent.diag.outbox", "lanes, dead letters, evictions; --requeue ID"),
    "config": ("agent.diag.config", "effective config, each value with its origin (default, "
                                    "file, environment, order)"),
}
DIAG_COMMANDS: dict[str, tuple[str, str]] = {
    "status": ("agent.diag.status", "the same as 'edge-agent status'"),
    "config": ("agent.diag.config", "the same as 'edge-agent config'"),
    "outbox": ("agent.diag.outbox", "outbox counts, lanes, evictions and dead letters"),
    "nmea": ("agent.diag.nmea", "decode a captured NMEA file into one JSON fix per line"),
    "can": ("agent.diag.can", "decode SLCAN / candump traffic with the DBC"),
    "obd": ("agent.diag.obd", "query an ELM327 adapter once and print what it reports"),
    "face": ("agent.diag.face", "analyse one image: face box, landmarks, pose, eyes"),
    "video": ("agent.diag.video", "run driver monitoring over a video file, print metrics/events"),
    "snapshot": ("agent.diag.snapshot", "save an annotated PNG to check the camera mount"),
}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-agent", description=__doc__)
    parser.add_argument("--log-level", default=None, type=str.upper,
                        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
                        help="overrides the config's [log] level")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the agent (as systemd does)")
    run.add_argument("--config", type=Path, default=None, help="TOML config file")
    run.add_argument("--duration", type=float, default=None, help="stop after SECONDS")

    _add_commands(sub, TOP_COMMANDS)
    diag = sub.add_parser("diag", help="technician diagnostics")
    diag_sub = diag.add_subparsers(dest="diag_command", required=True)
    _add_commands(diag_sub, DIAG_COMMANDS)
    return parser


def _add_commands(sub: Any, commands: dict[str, tuple[str, str]]) -> None:
    for name, (module_name, help_text) in commands.items():
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(_diag_module=module_name, _diag_name=name)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            p.set_defaults(_diag_unavailable=str(exc))
            p.add_argument("rest", nargs=argparse.REMAINDER)
            continue
        module.add_arguments(p)


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    logging.basicConfig(
        level=(args.log_level or "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "run":
            from agent.app import run_agent

            return run_agent(args.config, duration=args.duration, log_level=args.log_level)
        if getattr(args, "_diag_unavailable", None):
            print(f"edge-agent: {args._diag_name} is not available: "
                  f"{args._diag_unavailable}", file=sys.stderr)
            return 2
        module = importlib.import_module(args._diag_module)
        code: int = module.run(args)
        return code
    except ConfigError as exc:
        print(f"edge-agent: config error: {exc}", file=sys.stderr)
        return 78  # EX_CONFIG: systemd's RestartPreventExitStatus keeps it from looping
    except AgentError as exc:
        print(f"edge-agent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `edge-agent status --json | head`: the reader left, not an error
        sys.stderr.close()
        return 0
