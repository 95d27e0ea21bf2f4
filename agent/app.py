"""Composition root: builds the components from config and runs them under one TaskGroup."""

from __future__ import annotations

from pathlib import Path

from agent.config import load_config


def run_agent(config_path: Path | None, duration: float | None = None) -> int:
    """Entry point of ``edge-agent run`` (wired up as the components land)."""
    load_config(config_path)
    return 0
