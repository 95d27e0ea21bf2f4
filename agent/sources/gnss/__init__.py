"""GNSS receivers speaking NMEA 0183: a pure parser/merger and the serial source around it."""

from agent.sources.gnss.capture import Capture, parse_capture, read_capture
from agent.sources.gnss.framing import FramingCounters, SentenceFramer
from agent.sources.gnss.merger import FixMerger, MergerCounters, iso_time
from agent.sources.gnss.parser import NmeaParser

__all__ = [
    "Capture",
    "FixMerger",
    "FramingCounters",
    "MergerCounters",
    "NmeaParser",
    "SentenceFramer",
    "iso_time",
    "parse_capture",
    "read_capture",
]
