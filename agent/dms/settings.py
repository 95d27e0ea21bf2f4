"""Driver-monitoring thresholds (the ``[dms]`` section), in seconds and degrees."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DmsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    microsleep_s: float = Field(1.5, gt=0)  # DESIGN-NOTES §2 ladder
