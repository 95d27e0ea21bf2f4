"""Config set by orders: a versioned overlay on top of the file and environment, persisted.

The agent's configuration has three sources at start (defaults, ``agent.toml``, ``EDGE_AGENT_*``);
config orders add a fourth that wins over them: ``<data_dir>/config-orders.json``
``{"version": N, "keys": {"MAX_SPEED_KMH": 70, ...}}`` (0600, replaced atomically: a power cut
leaves the old or the new file). Each accepted change bumps ``version``; ``settings.reset``
empties the overlay (every key back to what file, environment and defaults say) and bumps it too.

:func:`overlay` turns the overlay into a new immutable :class:`AgentConfig` snapshot, checking
each key against its section as a whole (cross-field rules), so a refused key changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from agent.config import AgentConfig
from agent.errors import StorageError
from agent.orders.keys import KEYS, KeyRefusedError, check
from agent.store.files import write_atomic

log = logging.getLogger(__name__)

FILE_NAME: Final = "config-orders.json"


@dataclass(slots=True)
class ConfigOverlay:
    version: int = 0
    keys: dict[str, Any] = field(default_factory=dict)


def load(path: Path) -> ConfigOverlay:
    """The persisted overlay; an unreadable one is logged and ignored (the base config runs)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        version, keys = int(doc["version"]), dict(doc["keys"])
    except FileNotFoundError:
        return ConfigOverlay()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("%s unreadable (%s): the config orders in it are not applied", path, exc)
        return ConfigOverlay()
    return ConfigOverlay(version, keys)


def save(path: Path, overlay: ConfigOverlay) -> None:
    """Persist atomically (blocking: call from a thread). Raises StorageError."""
    data = json.dumps({"version": overlay.version, "keys": overlay.keys}, sort_keys=True)
    try:
        write_atomic(path, data.encode())
    except OSError as exc:
        raise StorageError(f"config orders not saved: {exc}") from exc


def dotted(key: str) -> str:
    """``MAX_SPEED_KMH`` → ``rules.max_speed_kmh`` (the config's own key)."""
    spec = KEYS[key.upper()]
    return f"{spec.section}.{spec.field}"


def apply(base: AgentConfig, changes: Sequence[tuple[str, Any]]
          ) -> tuple[AgentConfig, dict[str, str | None]]:
    """``base`` with each change that passes; per key None (applied) or the refusal reason.

    Keys are applied one at a time against the section as it stands, so a key that breaks a
    cross-field rule is refused alone and the others still apply.
    """
    config = base
    results: dict[str, str | None] = {}
    for key, value in changes:
        try:
            spec, checked = check(key, value)
            section = getattr(config, spec.section)
            new_section = _with(section, spec.field, checked)
        except KeyRefusedError as exc:
            results[str(key)] = str(exc)
            continue
        except ValidationError as exc:
            results[str(key)] = exc.errors()[0]["msg"]
            continue
        config = config.model_copy(update={spec.section: new_section})
        results[spec.key] = None
    return config, results


def apply_overlay(base: AgentConfig, overlay: ConfigOverlay) -> AgentConfig:
    """The snapshot the agent runs with; a key that no longer validates is logged, skipped."""
    config, results = apply(base, sorted(overlay.keys.items()))
    for key, why in results.items():
        if why is not None:
            log.error("config order key %s=%r no longer applies: %s", key,
                      overlay.keys.get(key), why)
    return config


def reported(config: AgentConfig, version: int) -> dict[str, Any]:
    """The retained ``config/reported`` document: every order key with its current value."""
    values = {spec.key: getattr(getattr(config, spec.section), spec.field)
              for spec in KEYS.values()}
    return {"version": version, "config": values}


def _with(section: BaseModel, name: str, value: Any) -> BaseModel:
    """A validated copy of ``section`` with one field changed (model_copy skips validation)."""
    return type(section).model_validate({**section.model_dump(), name: value})


def by_order(keys: Mapping[str, Any]) -> set[str]:
    return {dotted(k) for k in keys if k.upper() in KEYS}
