"""Telemetry rule thresholds (the ``[rules]`` section); changeable at run time by config orders."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RuleThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    max_speed_kmh: int = Field(90, ge=0, le=300)  # MAX_SPEED_KMH; Teltonika default 90
