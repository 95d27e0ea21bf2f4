"""Replay a gpsd capture (``shared/testdata/gpsd/*.log``) through a pty at its recorded rate.

Reuses the GNSS source's helpers (``NmeaPty``, ``CaptureReplay``, ``split_epochs``); what this
adds is the rate: the median step between the capture's epoch times (1 Hz, 5 Hz, 10 Hz
receivers), so a capture plays as fast as the receiver sent it (times ``speedup``).
"""

from __future__ import annotations

import itertools
import re
import statistics
from pathlib import Path

from agent.sources.gnss.capture import read_capture
from agent.sources.gnss.replay import CaptureReplay, NmeaPty, split_epochs

_TIME = re.compile(rb"^[$!][A-Z]{2}(?:RMC|GGA|GNS|ZDA),(\d{2})(\d{2})(\d{2}(?:\.\d*)?),")


def epoch_seconds(epoch: bytes) -> float | None:
    """Seconds of day of the first timed sentence in an epoch burst."""
    for line in epoch.splitlines():
        m = _TIME.match(line)
        if m:
            h, mi, s = m.groups()
            return int(h) * 3600 + int(mi) * 60 + float(s)
    return None


def recorded_rate(epochs: list[bytes], default: float = 1.0) -> float:
    """Epochs per second as recorded: 1 / median positive step between epoch times."""
    times = [t for t in (epoch_seconds(e) for e in epochs) if t is not None]
    steps = [b - a for a, b in itertools.pairwise(times) if 0 < b - a < 60]
    if not steps:
        return default
    return 1.0 / statistics.median(steps)


def replay_capture(
    capture: Path, link: Path, *, speedup: float = 1.0, repeat: bool = False
) -> tuple[NmeaPty, CaptureReplay, float]:
    """Start playing ``capture`` on a new pty behind ``link``; returns (pty, player, rate)."""
    body = read_capture(capture).body
    epochs = split_epochs(body)
    rate = recorded_rate(epochs)
    pty = NmeaPty(link=link)
    player = CaptureReplay(pty, epochs, epochs_per_s=rate * speedup, repeat=repeat).start()
    return pty, player, rate
