"""NMEA: the framer and the fix merger fed arbitrary bytes and mutated valid sentences.

Property: :class:`NmeaParser` never raises (there is no documented error: bad input is counted
and dropped) and every fix it reports holds finite, plausible numbers.
"""

from __future__ import annotations

import dataclasses
import math

from hypothesis import given
from hypothesis import strategies as st

from agent.sources.gnss.parser import NmeaParser

from .budget import tried
from .strategies import field_mutated, mutated, nmea_checksum

BODIES = [
    "GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W",
    "GNRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A,V",
    "GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,",
    "GNGGA,092725.00,4717.11399,N,00833.91590,E,1,08,1.01,499.6,M,48.0,M,,",
    "GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1",
    "GPVTG,054.7,T,034.4,M,005.5,N,010.2,K,A",
    "GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00",
    "GPGLL,4916.45,N,12311.12,W,225444,A",
    "GPZDA,201530.00,04,07,2002,00,00",
    "GPGST,172814.0,0.006,0.023,0.020,273.6,0.023,0.020,0.031",
    "GNGNS,014035.00,4332.69262,S,17235.48549,E,RR,13,0.9,25.63,11.24,,",
    "PUBX,00,081350.00,4717.113210,N,00833.915187,E,546.589,G3,2.1,2.0,0.007,77.52,0.007,,0.92,1.19,0.77,9,0,0",
]


def sentence(body: str) -> bytes:
    return f"${body}*{nmea_checksum(body)}\r\n".encode("latin-1", "replace")


VALID = [sentence(b) for b in BODIES]


def check(chunks: list[bytes]) -> None:
    tried("nmea")
    parser = NmeaParser()
    for i, chunk in enumerate(chunks):
        for fix in parser.feed(chunk, 1000.0 + i):
            for f in dataclasses.fields(fix):
                value = getattr(fix, f.name)
                if isinstance(value, float):
                    assert math.isfinite(value), (f.name, value)
            if fix.lat is not None:
                assert -90 <= fix.lat <= 90, fix.lat
            if fix.lon is not None:
                assert -180 <= fix.lon <= 180, fix.lon
            if fix.speed_mps is not None:
                assert fix.speed_mps >= 0, fix.speed_mps
            if fix.track is not None:
                assert 0 <= fix.track <= 360, fix.track
    parser.flush()
    parser.counters()
    parser.refusals()


@given(st.lists(st.binary(max_size=300), max_size=6))
def test_arbitrary_bytes(chunks: list[bytes]) -> None:
    check(chunks)


@given(st.lists(mutated(VALID), min_size=1, max_size=12))
def test_mutated_bytes(chunks: list[bytes]) -> None:
    check(chunks)


@given(st.lists(field_mutated(BODIES), min_size=1, max_size=12))
def test_mutated_fields_valid_checksum(bodies: list[str]) -> None:
    """Checksums recomputed after the mutation: the merger itself sees the nonsense."""
    check([sentence(b) for b in bodies])


@given(st.lists(st.sampled_from(BODIES) | field_mutated(BODIES), min_size=1, max_size=20),
       st.integers(1, 40))
def test_stream_any_chunking(bodies: list[str], size: int) -> None:
    stream = b"".join(sentence(b) for b in bodies)
    check([stream[i:i + size] for i in range(0, len(stream), size)])
