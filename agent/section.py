"""The base of the configuration and order-data models, and the models several sections share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo must not silently fall back to a default), and a value
    never changes in place: a change is a new, validated object (``model_validate``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class GpioLine(StrictModel):
    """One line on a GPIO character device (libgpiod v2)."""

    chip: str = Field("/dev/gpiochip0", min_length=1, max_length=256)
    # A line name from the device tree / gpio-line-names ("ACC_IN", "RELAY_ENGINE") or an
    # offset ("17").
    line: str = Field(min_length=1, max_length=64)
    active_low: bool = False
