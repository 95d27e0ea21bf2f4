"""Truth → NMEA 0183: RMC + GGA + GSA + GSV per epoch, valid checksums, CR LF.

What a u-blox-like receiver says: with a fix, position/speed/course (speed in knots), quality 1,
the satellites used and the DOPs; in a "no fix" outage, time only and a few weak satellites in
view; "jammed", time only and no satellite at all; "silent", nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from agent.sim.truth import Truth

KNOTS_PER_MPS = 3600.0 / 1852.0
# Satellite PRNs and a plausible sky (elevation, azimuth) for GSV.
_SKY = [
    (3, 48, 110), (4, 62, 270), (6, 21, 15), (9, 35, 310), (12, 70, 190), (17, 15, 60),
    (19, 44, 140), (22, 28, 230), (25, 55, 95), (28, 12, 340), (31, 38, 20), (32, 25, 160),
]  # fmt: skip


def checksum(body: str) -> str:
    c = 0
    for ch in body.encode("ascii"):
        c ^= ch
    return f"{c:02X}"


def sentence(body: str) -> bytes:
    """``body`` without ``$`` and ``*`` → the full sentence with checksum and CR LF."""
    return f"${body}*{checksum(body)}\r\n".encode("ascii")


def _lat(v: float) -> str:
    h = "N" if v >= 0 else "S"
    v = abs(v)
    d = int(v)
    return f"{d:02d}{(v - d) * 60:08.5f},{h}"


def _lon(v: float) -> str:
    h = "E" if v >= 0 else "W"
    v = abs(v)
    d = int(v)
    return f"{d:03d}{(v - d) * 60:08.5f},{h}"


def epoch_sentences(
    truth: Truth,
    epoch_s: float,
    *,
    satellites: int = 10,
    hdop: float = 0.9,
    altitude_m: float = 800.0,
    talker: str = "GP",
) -> list[bytes]:
    """The sentences of one epoch at receiver time ``epoch_s`` (UTC epoch seconds)."""
    if truth.gnss == "silent":
        return []
    cs = round(epoch_s * 100)  # centiseconds: NMEA time resolution
    when = datetime.fromtimestamp(cs // 100, UTC)
    hms = when.strftime("%H%M%S") + f".{cs % 100:02d}"
    dmy = when.strftime("%d%m%y")
    out: list[bytes] = []
    if truth.gnss == "ok":
        pos = f"{_lat(truth.lat)},{_lon(truth.lon)}"
        kn = truth.speed_mps * KNOTS_PER_MPS
        course = f"{truth.heading:.2f}"
        used = _SKY[: min(satellites, 12)]
        pdop, vdop = hdop * 1.6, hdop * 1.3
        out.append(sentence(f"{talker}RMC,{hms},A,{pos},{kn:.3f},{course},{dmy},,,A"))
        out.append(sentence(
            f"{talker}GGA,{hms},{pos},1,{len(used):02d},{hdop:.1f},{altitude_m:.1f},M,0.0,M,,"
        ))  # fmt: skip
        prns = [f"{p:02d}" for p, _, _ in used] + [""] * (12 - len(used))
        out.append(sentence(
            f"{talker}GSA,A,3,{','.join(prns)},{pdop:.1f},{hdop:.1f},{vdop:.1f}"
        ))  # fmt: skip
        view = [(p, el, az, 42) for p, el, az in used]
    else:
        out.append(sentence(f"{talker}RMC,{hms},V,,,,,,,{dmy},,,N"))
        out.append(sentence(f"{talker}GGA,{hms},,,,,0,00,99.99,,,,,,"))
        out.append(sentence(f"{talker}GSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99"))
        view = [] if truth.gnss == "jammed" else [(p, el, az, 12) for p, el, az in _SKY[:3]]
    out += gsv(view, talker)
    return out


def gsv(view: list[tuple[int, int, int, int]], talker: str = "GP") -> list[bytes]:
    """Satellites in view, four per sentence (an empty sky is one sentence with 0 in view)."""
    if not view:
        return [sentence(f"{talker}GSV,1,1,00")]
    total = (len(view) + 3) // 4
    out = []
    for i in range(total):
        chunk = view[i * 4 : i * 4 + 4]
        sats = ",".join(f"{p:02d},{el:02d},{az:03d},{snr:02d}" for p, el, az, snr in chunk)
        out.append(sentence(f"{talker}GSV,{total},{i + 1},{len(view):02d},{sats}"))
    return out
