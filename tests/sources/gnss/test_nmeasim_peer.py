"""An NMEA peer we did not write: nmeasim's simulated receivers, through a real pty, into the
real :class:`GnssSerialSource`.

nmeasim (PyPI, MIT) models a receiver (position, speed, heading, altitude, satellites, fix
state) and formats its sentences itself; its ``Simulator.generate`` writes them to a file-like
output, here a pty master. The model's state at each epoch is recorded as the truth, and every
fix update the source emits must agree with it within the precision nmeasim printed, with no
sentence rejected or left undecoded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from nmeasim.constants import FixType
from nmeasim.models import GlonassReceiver, GnssReceiver, GpsReceiver
from nmeasim.simulator import Simulator

from agent.sources.gnss.replay import NmeaPty
from agent.sources.gnss.source import GnssSerialSource
from agent.sources.readings import FixMode, GnssFix
from tests.sources.gnss.test_source import Collector, fast_source, opened, stop

pytestmark = pytest.mark.timeout(60)

KNOT_MPS = 1852.0 / 3600.0
# Starting on a whole minute keeps nmeasim's satellite perturbation (sin of the second,
# accumulated) non-negative for 30 s, so no satellite sinks below the horizon mid-test.
T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def seeded_random() -> Iterator[None]:
    """nmeasim draws satellite PRNs, azimuths and SNRs from the global ``random``: seed it so
    the run is the same every time, and give the rest of the suite its state back."""
    state = random.getstate()
    random.seed(20240501)
    yield
    random.setstate(state)


class GalileoReceiver(GnssReceiver):  # type: ignore[misc]
    """Galileo (GA talker, satellite ids 1-36), built the way nmeasim builds its
    ``GlonassReceiver`` (its documented extension point for other constellations)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_sv_number=1, max_sv_number=36, total_sv_limit=36, **kwargs)
        self._prefix = "GA"


@dataclass(frozen=True)
class Truth:
    """What the nmeasim model held when it printed one epoch."""

    time_ms: int
    has_fix: bool
    lat: float
    lon: float
    alt: float | None
    kph: float
    heading: float
    num_sats: int


def snapshot(gnss: Any) -> Truth:
    utc = gnss.date_time.astimezone(dt.UTC)
    return Truth(time_ms=round(utc.timestamp() * 1000), has_fix=gnss.has_fix, lat=gnss.lat,
                 lon=gnss.lon, alt=gnss.altitude, kph=gnss.kph, heading=gnss.heading,
                 num_sats=gnss.num_sats)


class PtyOutput:
    """The file-like output nmeasim writes to. Each epoch goes into the pty master as one
    burst, as a receiver's UART sends it; the first sentence of an epoch records the model's
    state (nmeasim holds its lock while it emits an epoch, so the state is that epoch's).

    nmeasim prints each constellation's model in turn (GSA, GSV of GPS, then of GLONASS...);
    ``grouped`` reorders an epoch's sentences the way u-blox or MediaTek receivers send them:
    position sentences, then every GSA, then every GSV (contents untouched)."""

    def __init__(self, pty: NmeaPty, model: Any, epoch_start: str, *,
                 grouped: bool = False) -> None:
        self.pty = pty
        self.model = model
        self.epoch_start = epoch_start  # e.g. "GPGGA"
        self.grouped = grouped
        self.truth: list[Truth] = []
        self.sentences = 0
        self._epoch: list[str] = []

    def write(self, text: str) -> None:
        if text[1:6] == self.epoch_start:
            self.flush()
            self.truth.append(snapshot(self.model))
        self._epoch.append(text)

    def flush(self) -> None:
        burst = self._epoch
        if self.grouped:
            burst = sorted(burst, key=lambda line: {"GSA": 1, "GSV": 2}.get(line[3:6], 0))
        self.pty.write("".join(burst).encode("ascii"))
        self.sentences += len(burst)
        self._epoch = []


def precision(model: Any) -> dict[str, float]:
    """Half a unit of each field's last printed digit: the most nmeasim's rounding can move a
    value (lat/lon are printed as minutes)."""
    return {
        "deg": 0.5 * 10.0 ** -model.horizontal_dp / 60.0 + 1e-12,
        "alt": 0.5 * 10.0 ** -model.vertical_dp + 1e-9,
        "track": 0.5 * 10.0 ** -model.angle_dp + 1e-9,
        "speed": 0.5 * 10.0 ** -model.speed_dp * KNOT_MPS + 1e-9,
    }


async def run_source(pty: NmeaPty, produce: Any) -> tuple[Collector, GnssSerialSource, int]:
    """Start the source on the pty, run ``produce()`` (nmeasim writing, in a thread: the
    writes may block while the reader drains the pty) and wait until every written sentence
    was framed and its updates reached the loop."""
    got = Collector()
    source = fast_source(pty.path)
    task = asyncio.create_task(source.run(got))
    await opened(source)
    written: int = await asyncio.to_thread(produce)

    def counters() -> dict[str, int]:
        return source.diagnostics()["nmea"]  # type: ignore[return-value]

    for _ in range(500):
        if counters()["sentences"] + counters()["bad_checksum"] >= written:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # the last read's hand-over to the loop
    await stop(task)
    return got, source, written


def assert_nothing_rejected(source: GnssSerialSource, written: int) -> None:
    c: dict[str, int] = source.diagnostics()["nmea"]  # type: ignore[assignment]
    assert c["sentences"] == written, c
    for reject in ("bad_checksum", "no_checksum", "truncated", "garbage", "non_ascii",
                   "nul_bytes", "overlong", "unknown", "too_short"):
        assert c[reject] == 0, (reject, c)
    assert c["decoded"] == written, c  # every sentence nmeasim sent was used


@dataclass(frozen=True)
class Expect:
    """How the epoch's final update must read, where it is not nmeasim's value itself."""

    mode_2d: FixMode = FixMode.FIX_2D  # mode when nmeasim prints a 2D fix (see the GPS test)
    satellites: int | None = None  # used and visible; None: the model's num_sats
    # no-fix updates stamped with the last good epoch's time (see the multi-GNSS tests)
    loss_under_previous_time: int = 0


def assert_matches(fix: GnssFix, truth: Truth, tol: dict[str, float], expect: Expect, *,
                   final: bool, first: bool = False) -> None:
    """One fix update against the epoch's truth. Partial updates (before the receiver's cycle
    is learnt) may lack fields; whatever they carry must be right, and the epoch's final
    update must carry everything. In the first epoch the cycle is not known yet: its GSV
    groups may not be reported before the next epoch starts (gpsd's rule too), so its
    satellite counts are not checked."""
    assert fix.time_ms == truth.time_ms
    if not truth.has_fix:
        assert fix.mode == FixMode.NO_FIX, fix
        assert (fix.lat, fix.lon, fix.alt, fix.speed_mps, fix.track) == (None,) * 5, fix
        return
    assert fix.lat == pytest.approx(truth.lat, abs=tol["deg"]), fix
    assert fix.lon == pytest.approx(truth.lon, abs=tol["deg"]), fix
    if truth.alt is None:
        assert fix.alt is None, fix  # no altitude invented
    elif fix.alt is not None or final:
        assert fix.alt == pytest.approx(truth.alt, abs=tol["alt"]), fix
    if fix.speed_mps is not None or final:
        assert fix.speed_mps == pytest.approx(truth.kph / 3.6, abs=tol["speed"]), fix
    if fix.track is not None or final:
        assert fix.track == pytest.approx(truth.heading, abs=tol["track"]), fix
    if final:
        assert fix.mode == (FixMode.FIX_3D if truth.alt is not None else expect.mode_2d), fix
        sats = truth.num_sats if expect.satellites is None else expect.satellites
        if not first:
            assert (fix.satellites_used, fix.satellites_visible) == (sats, sats), fix
    else:
        assert fix.mode in (FixMode.FIX_2D, FixMode.FIX_3D), fix


def assert_epochs(fixes: list[GnssFix], truth: list[Truth], tol: dict[str, float],
                  expect: Expect) -> None:
    assert len({t.time_ms for t in truth}) == len(truth)  # one model state per epoch
    by_time = {t.time_ms: t for t in truth}
    # Like gpsd, a GGA/GLL time is used only once RMC or ZDA gave a date: the first epoch's
    # updates before its RMC carry no time (they must still hold the first epoch's position).
    undated = 0
    while undated < len(fixes) and fixes[undated].time_ms is None:
        assert_matches(replace(fixes[undated], time_ms=truth[0].time_ms), truth[0], tol,
                       expect, final=False)
        undated += 1
    assert undated <= 2, fixes[:undated]  # GGA, GLL
    fixes = fixes[undated:]
    # A void RMC (status V) leading an epoch does not merge its time (gpsd's processRMC): the
    # loss of fix is reported at once, stamped with the last good epoch's time. Accepted only
    # as the last update of an epoch whose successor has no fix.
    index = {t.time_ms: i for i, t in enumerate(truth)}
    early = [i for i, f in enumerate(fixes)
             if f.mode == FixMode.NO_FIX and by_time[f.time_ms or 0].has_fix]
    for i in early:
        k = index[fixes[i].time_ms or 0]
        assert k + 1 < len(truth) and not truth[k + 1].has_fix, fixes[i]
        assert i + 1 < len(fixes) and fixes[i + 1].time_ms == truth[k + 1].time_ms, fixes[i]
        assert (fixes[i].lat, fixes[i].lon, fixes[i].speed_mps) == (None, None, None)
    assert len(early) == expect.loss_under_previous_time, [fixes[i] for i in early]
    fixes = [f for i, f in enumerate(fixes) if i not in early]
    times = [f.time_ms or 0 for f in fixes]
    assert times == sorted(times)
    assert set(times) == set(by_time), "an epoch missing or invented"
    for i, fix in enumerate(fixes):
        final = i + 1 == len(fixes) or fixes[i + 1].time_ms != fix.time_ms
        assert_matches(fix, by_time[times[i]], tol, expect, final=final,
                       first=times[i] == truth[0].time_ms)


async def test_nmeasim_gps_receiver_moving_losing_and_regaining_its_fix(tmp_path: Path) -> None:
    """A GPS-only receiver printing everything nmeasim can (GGA GLL GSA GSV RMC VTG ZDA) at
    1 Hz: 3D at 72 km/h heading 57.3, fix lost for 4 s, a 2D fix (no altitude) on a new
    heading, 3D again at another speed."""
    gps = GpsReceiver(date_time=T0, lat=48.137154, lon=11.576124, altitude=519.37, kph=72.0,
                      heading=57.3, num_sats=9, hdop=0.9, vdop=1.4, pdop=1.7,
                      horizontal_dp=5, vertical_dp=2, speed_dp=2, angle_dp=1, time_dp=2,
                      output=("GGA", "GLL", "GSA", "GSV", "RMC", "VTG", "ZDA"))
    sim = Simulator(gps=gps, heading_variation=0)  # straight course: no random walk
    with NmeaPty() as pty:
        out = PtyOutput(pty, gps, "GPGGA")

        def produce() -> int:
            sim.generate(8, output=out, delimiter="\r\n")
            with sim.lock:
                gps.fix = FixType.INVALID_FIX  # lost: GGA quality 0, RMC/GLL V, GSA 1
            sim.generate(4, output=out, delimiter="\r\n")
            with sim.lock:
                gps.fix = FixType.SPS_FIX
                gps.altitude = None  # 2D: empty GGA altitude, GSA dimension 2
                gps.heading = 301.6
            sim.generate(5, output=out, delimiter="\r\n")
            with sim.lock:
                gps.altitude = 523.8
                gps.kph = 31.5
            sim.generate(6, output=out, delimiter="\r\n")
            out.flush()
            return out.sentences

        got, source, written = await run_source(pty, produce)

    truth = out.truth
    assert len(truth) == 23
    assert [t.has_fix for t in truth] == [True] * 8 + [False] * 4 + [True] * 11
    assert [t.alt is None for t in truth[12:]] == [True] * 5 + [False] * 6
    assert truth[7].lat != truth[0].lat and truth[22].lon < truth[13].lon  # it did move
    assert_nothing_rejected(source, written)
    # Known divergence, kept on purpose: in the 2D epochs nmeasim says 2D (GSA dimension 2,
    # GGA without altitude), but the RMC that follows the GSA has no 2D/3D flag and gpsd's
    # processRMC calls any fix with 4+ satellites used 3D. The parser reproduces gpsd (the
    # oracle of the 41 captures), so the fix reads mode 3 with no altitude.
    assert_epochs(got.fixes, truth, precision(gps), Expect(mode_2d=FixMode.FIX_3D))


def multi_gnss_receiver() -> tuple[Simulator, GnssReceiver, list[GnssReceiver]]:
    """A multi-GNSS receiver: the fused position on the GN talker (RMC VTG GGA GLL ZDA),
    satellites per constellation on GP (8), GL (6) and GA (5) with GSA + GSV each. GPS and
    Galileo both number their satellites from 1."""
    common: dict[str, Any] = {"date_time": T0, "kph": 0.0, "altitude": 519.4}
    gn = GnssReceiver(min_sv_number=1, max_sv_number=99, total_sv_limit=99,  # talker GN
                      output=("RMC", "VTG", "GGA", "GLL", "ZDA"), lat=-33.856784,
                      lon=151.215297, altitude=42.6, kph=48.0, heading=212.4, num_sats=19,
                      date_time=T0, horizontal_dp=5, vertical_dp=1, speed_dp=2, angle_dp=1)
    constellations = [GpsReceiver(output=("GSA", "GSV"), num_sats=8, **common),
                      GlonassReceiver(output=("GSA", "GSV"), num_sats=6, **common),
                      GalileoReceiver(output=("GSA", "GSV"), num_sats=5, **common)]
    sim = Simulator(gps=gn, glonass=constellations[0], heading_variation=0)
    sim.gnss.extend(constellations[1:])  # nmeasim's simulator steps and prints every model
    return sim, gn, constellations


async def run_multi_gnss(grouped: bool) -> tuple[Collector, GnssSerialSource, int,
                                                 list[Truth], GnssReceiver]:
    sim, gn, constellations = multi_gnss_receiver()
    with NmeaPty() as pty:
        out = PtyOutput(pty, gn, "GNRMC", grouped=grouped)

        def produce() -> int:
            sim.generate(10, output=out, delimiter="\r\n")
            with sim.lock:
                for model in sim.gnss:
                    model.fix = FixType.INVALID_FIX
            sim.generate(3, output=out, delimiter="\r\n")
            with sim.lock:
                for model in sim.gnss:
                    model.fix = FixType.SPS_FIX
            sim.generate(5, output=out, delimiter="\r\n")
            out.flush()
            return out.sentences

        got, source, written = await run_source(pty, produce)
    truth = out.truth
    assert len(truth) == 18
    assert [t.has_fix for t in truth] == [True] * 10 + [False] * 3 + [True] * 5
    assert {t.num_sats for t in truth} == {8 + 6 + 5}
    # none drifted below the horizon (that would change a constellation's count)
    assert [m.num_sats for m in constellations] == [8, 6, 5]
    return got, source, written, truth, gn


async def test_nmeasim_multi_gnss_gsa_then_gsv_bursts_count_every_constellation(
        tmp_path: Path) -> None:
    """GN position; GPGSA GLGSA GAGSA then the GSV groups of GP, GL, GA (u-blox order): the
    satellites used and in view are summed over the three constellations. The GN void RMC
    that opens the first no-fix epoch reports the loss under the last good epoch's time
    (gpsd's processRMC merges no time from a void RMC; the GPS-only receiver above, whose
    epoch opens with GGA, shows no such update)."""
    got, source, written, truth, gn = await run_multi_gnss(grouped=True)
    assert_nothing_rejected(source, written)
    assert_epochs(got.fixes, truth, precision(gn), Expect(loss_under_previous_time=1))


async def test_nmeasim_multi_gnss_interleaved_per_constellation_counts_the_last_one_like_gpsd(
        tmp_path: Path) -> None:
    """nmeasim's own multi-constellation layout: each model's GSA and GSV in turn (GPGSA GPGSV
    GLGSA GLGSV GAGSA GAGSV). Position, speed, track, mode and time decode as above. Known
    divergence, kept on purpose: gpsd clears its satellite lists whenever a GSA or GSV follows
    another sentence type ("prevent overaccumulation of sat reports" in nmea_parse), so with
    this layout each constellation replaces the previous one and only Galileo's 5 remain; the
    parser reproduces gpsd."""
    got, source, written, truth, gn = await run_multi_gnss(grouped=False)
    assert_nothing_rejected(source, written)
    assert_epochs(got.fixes, truth, precision(gn),
                  Expect(satellites=5, loss_under_previous_time=1))
