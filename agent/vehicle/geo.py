"""Small WGS84 helpers: great-circle distance, bearing, and a local flat projection."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing from point 1 to point 2, degrees 0..360, north 0, clockwise."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def destination(lat: float, lon: float, bearing: float, distance_m: float) -> tuple[float, float]:
    """The point ``distance_m`` from (lat, lon) along ``bearing`` degrees."""
    d = distance_m / EARTH_RADIUS_M
    b = math.radians(bearing)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), (math.degrees(l2) + 540.0) % 360.0 - 180.0


def heading_delta_deg(a: float, b: float) -> float:
    """Smallest absolute difference between two headings, 0..180."""
    d = abs(a - b) % 360.0
    return 360.0 - d if d > 180.0 else d


def signed_heading_delta_deg(a: float, b: float) -> float:
    """``b - a`` wrapped to -180..180 (positive = clockwise = turning right)."""
    return (b - a + 540.0) % 360.0 - 180.0


class LocalFrame:
    """Equirectangular projection around an origin: (lat, lon) → (east m, north m).

    Accurate to well under a metre over a few kilometres, which is what geofences need.
    """

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0 = lat0
        self.lon0 = lon0
        self._kx = math.radians(1.0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
        self._ky = math.radians(1.0) * EARTH_RADIUS_M

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        dlon = (lon - self.lon0 + 540.0) % 360.0 - 180.0
        return dlon * self._kx, (lat - self.lat0) * self._ky
