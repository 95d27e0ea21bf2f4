"""Settings are immutable snapshots: a change is a new object through the reconfigure path,
never an assignment into a settings object other components share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ValidationError

from agent.config import AgentConfig


def models(model: type[BaseModel], seen: set[type[BaseModel]] | None = None
           ) -> Iterator[type[BaseModel]]:
    seen = seen if seen is not None else set()
    if model in seen:
        return
    seen.add(model)
    yield model
    for field in model.model_fields.values():
        ann = field.annotation
        for candidate in (ann, *getattr(ann, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                yield from models(candidate, seen)


def test_every_settings_model_is_frozen() -> None:
    found = list(models(AgentConfig))
    assert len(found) > 10
    thawed = [m.__name__ for m in found if not m.model_config.get("frozen")]
    assert thawed == []


def test_assigning_into_a_snapshot_is_refused() -> None:
    cfg = AgentConfig()
    with pytest.raises(ValidationError):
        cfg.rules.max_speed_kmh = 10
    with pytest.raises(ValidationError):
        cfg.cloud = cfg.cloud  # type: ignore[misc]
