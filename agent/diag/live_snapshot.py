"""``edge-agent snapshot [--camera cam1] -o FILE.png``: the newest frame of a live camera.

Asks the running agent (which owns the camera) for its latest frame, so the technician sees
exactly what driver monitoring sees. ``diag snapshot`` annotates a file instead.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from agent.diag.status import EXIT_NOT_RUNNING, add_config_argument, ask, find_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    parser.add_argument("--camera", default="cam1", help="cam1 driver (default), cam0 road")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    cfg = find_config(args.config)
    answer = ask(cfg, {"cmd": "snapshot", "camera": args.camera})
    if answer is None:
        print("edge-agent: no agent is running", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if "error" in answer:
        print(f"edge-agent: {answer['error']}", file=sys.stderr)
        return 1
    png = base64.b64decode(answer["png_base64"])
    args.output.write_bytes(png)
    print(f"{args.output}: {len(png)} bytes from {args.camera}")
    return 0
