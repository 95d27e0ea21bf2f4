"""``edge-agent config [--config FILE] [--json]`` (also ``diag config``): the effective
configuration, every value with where it came from: ``default``, ``file``, ``environment``
(``EDGE_AGENT_*``) or ``order`` (changed at run time by a config order; only a running agent
knows those, so they are asked of it when it answers). Secrets print as ``**********``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from agent.config import CONFIG_ENV, environment_overrides, read_toml
from agent.diag.status import ask, config_path, find_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="TOML config file")
    parser.add_argument("--json", action="store_true", help="{key: {value, origin}} as JSON")


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of the leaves (a list is one leaf)."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def origins(path: Path | None, keys: list[str], by_order: frozenset[str] = frozenset()
            ) -> dict[str, str]:
    """Where each of ``keys`` came from, highest precedence first: order, environment, file."""
    env = {".".join(parts) for parts in environment_overrides(os.environ)}
    in_file = set(flatten(read_toml(path))) if path is not None else set()

    def under(key: str, roots: set[str] | frozenset[str]) -> bool:
        parts = key.split(".")
        return any(".".join(parts[:i]) in roots for i in range(1, len(parts) + 1))

    return {key: "order" if under(key, by_order) else "environment" if under(key, env)
            else "file" if under(key, in_file) else "default" for key in keys}


def run(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    cfg = find_config(args.config)
    values = flatten(cfg.model_dump(mode="json"))
    by_order: frozenset[str] = frozenset()
    live = ask(cfg, {"cmd": "config"})
    if live is not None and "values" in live:  # the running agent's snapshot wins
        values = flatten(live["values"])
        by_order = frozenset(live.get("by_order", ()))
    where = origins(path if path is not None else _env_path(), list(values), by_order)
    if args.json:
        print(json.dumps({k: {"value": v, "origin": where[k]} for k, v in values.items()},
                         indent=2))
    else:
        width = max(map(len, values), default=10)
        for key, value in values.items():
            print(f"{key:<{width}}  {where[key]:<11}  {json.dumps(value)}")
    return 0


def _env_path() -> Path | None:
    value = os.environ.get(CONFIG_ENV)
    return Path(value) if value else None
