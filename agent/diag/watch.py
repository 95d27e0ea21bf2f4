"""``edge-agent watch gnss|can|dms|events [--config FILE] [--json] [--count N]``: live views.

Streams from the running agent's control socket and redraws in place on a terminal (one JSON
document per line with ``--json`` or when the output is not a terminal). ``events`` prints each
event as the agent stores it. Ctrl-C stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from agent.diag.status import EXIT_NOT_RUNNING, add_config_argument, agent_socket, find_config
from agent.runtime.control import WATCH_TOPICS

CLEAR = "\x1b[H\x1b[2J"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", choices=WATCH_TOPICS)
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a screen")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between updates")
    parser.add_argument("--count", type=int, default=0, help="stop after N updates (0: never)")


def run(args: argparse.Namespace) -> int:
    cfg = find_config(args.config)
    try:
        return asyncio.run(_watch(str(agent_socket(cfg)), args))
    except (FileNotFoundError, ConnectionRefusedError):
        print(f"edge-agent: no agent answers on {agent_socket(cfg)}", file=sys.stderr)
        return EXIT_NOT_RUNNING


async def _watch(path: str, args: argparse.Namespace) -> int:
    reader, writer = await asyncio.open_unix_connection(path, limit=1 << 24)
    request = {"cmd": "watch", "topic": args.topic, "interval_s": args.interval}
    writer.write(json.dumps(request).encode() + b"\n")
    await writer.drain()
    screen = sys.stdout.isatty() and not args.json
    n = 0
    try:
        while line := await reader.readline():
            doc = json.loads(line)
            if "error" in doc:
                print(f"edge-agent: {doc['error']}", file=sys.stderr)
                return 2
            n += 1
            if args.json or (not screen and args.topic != "events"):
                print(json.dumps(doc), flush=True)
            elif args.topic == "events":
                for e in doc["events"]:
                    print(render_event(e), flush=True)
            else:
                print(CLEAR + f"edge-agent watch {args.topic}   {time.strftime('%H:%M:%S')}\n",
                      flush=False)
                print(json.dumps(doc, indent=2), flush=True)
            if args.count and n >= args.count:
                return 0
    finally:
        writer.close()
    return 0


def render_event(e: dict[str, Any]) -> str:
    t = time.strftime("%H:%M:%S", time.localtime(e["timestamp_ms"] / 1000))
    files = f" files={e['files']}" if e["files"] else ""
    return f"{t} seq={e['seq']:<6} {e['kind'].lower():<9} {e['type']:<22} " \
           f"speed={e['speed_kmh']}km/h{files}"
