"""The one table of physical limits and the one function applying it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from agent.sources.plausibility import LIMITS, Refusals, plausible
from agent.sources.readings import Signal


def test_every_vehicle_signal_has_a_limit() -> None:
    # a signal without one would raise KeyError in the reader thread
    assert set(Signal) <= set(LIMITS)


def test_limits_are_ordered_ranges() -> None:
    assert all(limit.low < limit.high for limit in LIMITS.values())


@pytest.mark.parametrize(
    ("quantity", "value", "ok"),
    [
        (Signal.WHEEL_SPEED_KMH, 0.0, True),
        (Signal.WHEEL_SPEED_KMH, 400.0, True),
        (Signal.WHEEL_SPEED_KMH, 400.1, False),
        (Signal.WHEEL_SPEED_KMH, -1.0, False),
        (Signal.ENGINE_RPM, 20_001.0, False),
        (Signal.COOLANT_TEMP_C, -60.0, True),
        (Signal.COOLANT_TEMP_C, 251.0, False),
        (Signal.FUEL_LEVEL_PCT, 100.4, False),
        (Signal.VEHICLE_BATTERY_V, 65.535, False),
        ("gnss.alt", 1e308, False),
        ("gnss.track", 639.0, False),
        ("gnss.speed_mps", -0.5, False),
        ("gnss.lat", -90.0, True),
        ("gnss.lon", 180.5, False),
    ],
)
def test_plausible_is_inclusive_at_both_ends(quantity: str, value: float, ok: bool) -> None:
    assert plausible(quantity, value) is ok


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_never_plausible(value: float) -> None:
    assert not any(plausible(q, value) for q in LIMITS)


def test_refusals_are_counted_per_quantity() -> None:
    r = Refusals()
    assert r.accept(Signal.ENGINE_RPM, 800.0)
    assert not r.accept(Signal.ENGINE_RPM, -5.0)
    assert not r.accept("gnss.alt", 1e308)
    assert not r.accept("gnss.alt", math.inf)
    assert (r.total, r.as_dict()) == (3, {"engine_rpm": 1, "gnss.alt": 2})


def test_every_limit_is_documented() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    text = "".join((docs / f).read_text() for f in ("gnss.md", "can-obd.md", "motion.md"))
    missing = [str(q) for q in LIMITS if f"`{q}`" not in text]
    assert not missing, f"not in docs/gnss.md, docs/can-obd.md or docs/motion.md: {missing}"
