"""``edge-agent diag config [--config FILE]``: validate and print the effective configuration."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agent.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    # SecretStr fields dump as "**********": secrets never reach the terminal or a log.
    print(json.dumps(cfg.model_dump(mode="json"), indent=2, sort_keys=True))
    return 0
