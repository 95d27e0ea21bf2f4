"""The odometer: GNSS distance integration with jitter filtering, and where the value persists.

The integrator is pure (fixes in, metres out). Persistence sits behind :class:`OdometerStore`,
a two-method interface the composition root backs with the SQLite store; :class:`JsonOdometerStore`
is a small file implementation (:func:`agent.store.files.write_atomic`: temporary file, fsync,
rename, directory fsync) so that a power cut leaves either the old or the new value, never a
torn file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.errors import StorageError
from agent.sources.readings import GnssFix
from agent.store.files import write_atomic
from agent.vehicle.geo import haversine_m
from agent.vehicle.settings import FusionSettings


class OdometerStore(Protocol):
    def load(self) -> float | None:
        """The last saved odometer in metres, or None if nothing was saved yet."""
        ...

    def save(self, odometer_m: float) -> None:
        """Persist durably (blocking: call it from a thread / executor)."""
        ...


class JsonOdometerStore:
    """``{"odometer_m": 123456.7}`` in one file, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> float | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StorageError(f"{self.path}: unreadable odometer file: {exc}") from exc
        value = data.get("odometer_m") if isinstance(data, dict) else None
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise StorageError(f"{self.path}: no valid odometer_m in file")
        return float(value)

    def save(self, odometer_m: float) -> None:
        if not math.isfinite(odometer_m) or odometer_m < 0:
            raise ValueError(f"odometer must be a finite non-negative number, got {odometer_m}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps({"odometer_m": round(odometer_m, 3)}).encode())


@dataclass(slots=True)
class _Anchor:
    t: float
    lat: float
    lon: float


class GnssOdometer:
    """Integrates distance between valid fixes, ignoring jitter and glitches.

    An anchor fix is kept; a new fix adds its distance from the anchor (and becomes the new
    anchor) when the distance is at least ``odometer_min_step_m``. While the receiver says the
    vehicle is (nearly) still, wander within ``odometer_still_radius_m`` is ignored. A jump that
    would need more than ``odometer_max_speed_kmh`` re-anchors without adding anything. Fixes
    with a high HDOP are skipped.
    """

    def __init__(self, settings: FusionSettings) -> None:
        self.settings = settings
        self._anchor: _Anchor | None = None

    def reset(self) -> None:
        """Forget the anchor (e.g. while the CAN odometer is authoritative)."""
        self._anchor = None

    def add(self, fix: GnssFix) -> float:
        """Metres travelled since the previous accepted fix (0 if nothing to add)."""
        s = self.settings
        if fix.lat is None or fix.lon is None:
            return 0.0
        if fix.hdop is not None and fix.hdop > s.odometer_max_hdop:
            return 0.0
        a = self._anchor
        if a is None or fix.t <= a.t:
            if a is None:
                self._anchor = _Anchor(fix.t, fix.lat, fix.lon)
            return 0.0
        d = haversine_m(a.lat, a.lon, fix.lat, fix.lon)
        if d / (fix.t - a.t) > s.odometer_max_speed_kmh / 3.6:
            self._anchor = _Anchor(fix.t, fix.lat, fix.lon)
            return 0.0
        still = fix.speed_mps is not None and fix.speed_mps * 3.6 < s.odometer_min_speed_kmh
        if still and d < s.odometer_still_radius_m:
            return 0.0
        if d < s.odometer_min_step_m:
            return 0.0
        self._anchor = _Anchor(fix.t, fix.lat, fix.lon)
        return d
