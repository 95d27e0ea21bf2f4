"""Distance on the WGS-84 ellipsoid (Vincenty's inverse formula), as gpsd computes it.

Used to derive a ground speed from two fixes when the receiver sends none (GGA-only streams).
"""

from __future__ import annotations

import math

WGS84A = 6378137.0  # equatorial radius, m
WGS84F = 298.257223563  # inverse flattening
WGS84B = 6356752.314245  # polar radius, m


def earth_distance(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Metres between two points in degrees; NaN if the iteration does not converge."""
    a, b, f = WGS84A, WGS84B, 1 / WGS84F
    big_l = math.radians(lon2 - lon1)
    u1 = math.atan((1 - f) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - f) * math.tan(math.radians(lat2)))
    s_u1, c_u1 = math.sin(u1), math.cos(u1)
    s_u2, c_u2 = math.sin(u2), math.cos(u2)
    lam = big_l
    for _ in range(100):
        s_l, c_l = math.sin(lam), math.cos(lam)
        s_s = math.sqrt((c_u2 * s_l) ** 2 + (c_u1 * s_u2 - s_u1 * c_u2 * c_l) ** 2)
        if s_s == 0:
            return 0.0  # coincident points
        c_s = s_u1 * s_u2 + c_u1 * c_u2 * c_l
        sigma = math.atan2(s_s, c_s)
        s_a = c_u1 * c_u2 * s_l / s_s
        c_sq_a = 1 - s_a * s_a
        c_2sm = c_s - 2 * s_u1 * s_u2 / c_sq_a if c_sq_a != 0 else 0.0
        c = f / 16 * c_sq_a * (4 + f * (4 - 3 * c_sq_a))
        lam_prev = lam
        lam = big_l + (1 - c) * f * s_a * (
            sigma + c * s_s * (c_2sm + c * c_s * (2 * c_2sm * c_2sm - 1)))
        if abs(lam - lam_prev) <= 1.0e-12:
            break
    else:
        return math.nan
    u_sq = c_sq_a * (a * a - b * b) / (b * b)
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    d_s = big_b * s_s * (c_2sm + big_b / 4 * (
        c_s * (-1 + 2 * c_2sm * c_2sm)
        - big_b / 6 * c_2sm * (-3 + 4 * s_s * s_s) * (-3 + 4 * c_2sm * c_2sm)))
    return b * big_a * (sigma - d_s)
