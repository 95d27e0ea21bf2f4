"""Fix merging rules, on synthetic sentences with known answers (times at exact values)."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.sources.gnss import FixMerger, NmeaParser, iso_time
from agent.sources.gnss.geodesy import earth_distance
from agent.sources.gnss.replay import nmea
from agent.sources.gnss.synth import EpochSpec, epoch_sentences
from agent.sources.readings import FixMode, GnssFix

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def feed(merger: FixMerger, *bodies: str, t: float = 0.0) -> list[GnssFix]:
    out = []
    for body in bodies:
        fix = merger.update(nmea(body).decode().strip(), t)
        if fix is not None:
            out.append(fix)
    return out


def rmc(hhmmss: str, date: str = "010524", status: str = "A", knots: str = "10.0",
        track: str = "45.0", lat: str = "4807.038", lon: str = "01131.000") -> str:
    return f"GPRMC,{hhmmss},{status},{lat},N,{lon},E,{knots},{track},{date},,,A"


def gga(hhmmss: str, sats: str = "08", alt: str = "545.4", quality: str = "1",
        lat: str = "4807.038", lon: str = "01131.000") -> str:
    return f"GPGGA,{hhmmss},{lat},N,{lon},E,{quality},{sats},0.9,{alt},M,46.9,M,,"


def when(fix: GnssFix) -> str | None:
    return iso_time(fix.time_ms) if fix.time_ms is not None else None


def last_per_time(fixes: list[GnssFix]) -> dict[str | None, GnssFix]:
    return {when(f): f for f in fixes}


def test_gga_time_unusable_until_rmc_or_zda_gave_a_date() -> None:
    m = FixMerger()
    first = feed(m, gga("120000.00"))
    assert first
    assert first[-1].time_ms is None  # no date yet: position, but no time
    assert first[-1].lat == pytest.approx(48.1173)
    feed(m, rmc("120000.00"))
    later = feed(m, gga("120001.00"), rmc("120001.00"))
    assert when(later[-1]) == "2024-05-01T12:00:01.000Z"
    # ZDA gives a 4-digit year as well
    z = FixMerger()
    feed(z, "GPZDA,235959.50,31,12,2019,00,00")
    assert when(feed(z, gga("235959.50"))[-1]) == "2019-12-31T23:59:59.500Z"


@pytest.mark.parametrize(
    ("sats", "alt", "mode"),
    [("08", "545.4", FixMode.FIX_3D), ("04", "545.4", FixMode.FIX_3D),
     ("03", "545.4", FixMode.FIX_2D), ("08", "", FixMode.FIX_2D),
     ("02", "545.4", FixMode.NO_FIX)],
)
def test_gga_mode_3d_needs_altitude_and_four_satellites(sats: str, alt: str,
                                                       mode: FixMode) -> None:
    m = FixMerger()
    feed(m, rmc("120000.00"))
    fix = feed(m, gga("120000.00", sats=sats, alt=alt))[-1]
    assert fix.mode == mode
    assert (fix.alt is not None) == (alt != "" and mode >= FixMode.FIX_2D)


def test_rmc_only_receiver_reports_2d_and_a_void_rmc_no_fix() -> None:
    m = FixMerger()
    fixes = feed(m, rmc("120000"), rmc("120001"), rmc("120002"), rmc("120003", status="V"))
    assert [f.mode for f in fixes[:3]] == [FixMode.FIX_2D] * 3
    void = fixes[-1]
    assert void.mode == FixMode.NO_FIX
    assert void.lat is None and void.speed_mps is None  # nothing reported without a fix


def test_rmc_with_gsa_counting_more_than_three_satellites_is_3d() -> None:
    gsa = "GPGSA,A,3,02,05,07,09,,,,,,,,,1.8,1.1,1.5"
    m = FixMerger()
    fixes = feed(m, rmc("120000"), gsa, rmc("120001"))
    assert fixes[-1].mode == FixMode.FIX_3D  # RMC alone says only "fix"; GSA used 4
    assert fixes[-1].satellites_used == 4
    # a new epoch reports the previous epoch's DOPs until its own GSA arrives
    assert fixes[-1].pdop == 1.8
    fixes = feed(m, "GPGSA,A,3,02,05,07,09,,,,,,,,,2.5,1.2,2.2")
    assert (fixes[-1].pdop, fixes[-1].hdop, fixes[-1].vdop) == (2.5, 1.2, 2.2)
    fixes = feed(m, rmc("120002"), rmc("120003"))  # no GSA for two epochs: DOPs expire
    assert fixes[-1].pdop is None


def test_gsa_satellites_merge_across_talkers_and_reset_next_epoch() -> None:
    m = FixMerger()
    feed(m, rmc("120000"), gga("120000"))
    fixes = feed(m, "GNGSA,A,3,02,05,07,09,13,,,,,,,,1.2,0.9,0.9",
                 "GNGSA,A,3,65,66,73,81,,,,,,,,,1.2,0.9,0.9", gga("120001"))
    assert fixes[-1].satellites_used == 9  # 5 GPS + 4 GLONASS
    fixes = feed(m, "GPGSA,A,3,02,05,07,,,,,,,,,,1.2,0.9,0.9",
                 "GLGSA,A,3,65,66,,,,,,,,,,,1.2,0.9,0.9", rmc("120002"))
    assert fixes[-1].satellites_used == 5
    fixes = feed(m, "GPGSA,A,3,02,05,07,,,,,,,,,,1.2,0.9,0.9", gga("120003"))
    assert fixes[-1].satellites_used == 3  # a new GSA burst starts the count afresh


def test_gsv_satellites_in_view_merge_across_talkers() -> None:
    m = FixMerger()
    feed(m, rmc("120000"), gga("120000"), rmc("120001"), gga("120001"))
    fixes = feed(m,
                 "GPGSV,2,1,06,02,40,083,46,05,17,308,41,07,07,344,39,09,22,228,45",
                 "GPGSV,2,2,06,13,10,100,30,15,11,200,31",
                 "GLGSV,1,1,03,65,40,083,46,66,17,308,41,73,07,344,39",
                 gga("120002"))
    assert fixes[-1].satellites_visible == 9


def test_speed_comes_from_the_knots_field() -> None:
    m = FixMerger()
    fixes = feed(m, rmc("120000", knots="20.0"), gga("120000"))
    assert fixes[-1].speed_mps == pytest.approx(20.0 * 1852 / 3600)
    # VTG: knots 10.0 but a km/h field that disagrees (0.1 km/h resolution on real units)
    fixes = feed(m, rmc("120001", knots="10.0"), gga("120001"),
                 "GPVTG,90.0,T,,M,10.0,N,99.9,K,A")
    assert fixes[-1].speed_mps == pytest.approx(10.0 * 1852 / 3600)
    assert fixes[-1].track == 90.0


def test_receiver_clock_stepping_backwards_keeps_the_epochs() -> None:
    m = FixMerger()
    stamps = ["120005", "120006", "120004", "120005", "120006"]
    fixes = []
    for i, s in enumerate(stamps):
        fixes += feed(m, rmc(s, lat=f"4807.{100 + i}"), gga(s, lat=f"4807.{100 + i}"))
    seen = [when(f) for f in fixes]
    times = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert times == [f"2024-05-01T12:00:0{s[-1]}.000Z" for s in stamps]
    # and the backwards epoch carries its own position, not a stale one
    third = [f for f in fixes if when(f) == "2024-05-01T12:00:04.000Z"]
    assert third[-1].lat == pytest.approx((48 * 60 + 7.102) / 60)


def test_midnight_rollover_advances_the_date_for_gga() -> None:
    m = FixMerger()
    feed(m, rmc("235959.00", date="311214"), gga("235959.00"))
    fixes = feed(m, gga("000000.00"))
    assert when(fixes[-1]) == "2015-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("hhmmss", "iso"),
    [("120000.5", "12:00:00.500"), ("120000.123456", "12:00:00.123"),
     ("120000.9996", "12:00:01.000"), ("120000", "12:00:00.000")],
)
def test_time_is_kept_to_the_millisecond_like_gpsd(hhmmss: str, iso: str) -> None:
    m = FixMerger()
    fix = feed(m, rmc(hhmmss))[-1]
    assert when(fix) == f"2024-05-01T{iso}Z"


def test_two_digit_years_follow_the_century_and_rmc_rejects_bad_dates() -> None:
    m = FixMerger(century=1900)
    assert when(feed(m, rmc("120000", date="010599"))[-1]) == "1999-05-01T12:00:00.000Z"
    bad = FixMerger()
    fix = feed(bad, rmc("120000", date="2208-1"))[-1]  # Telit HE910 week-rollover garbage
    assert fix.time_ms is None
    assert fix.mode == FixMode.FIX_2D


def test_gga_only_stream_derives_speed_and_climb_from_successive_fixes() -> None:
    m = FixMerger()
    fixes: list[GnssFix] = []
    for i in range(5):  # due north, 0.001' of latitude and 2 m of altitude per second
        hhmmss = f"12000{i}.00"
        fixes += feed(m, gga(hhmmss, lat=f"4807.{38 + i:03d}", alt=f"{545.0 + 2 * i:.1f}"),
                      f"GPZDA,{hhmmss},01,05,2024,00,00")
    last = last_per_time(fixes)["2024-05-01T12:00:04.000Z"]
    step = earth_distance(48 + 7.041 / 60, 11 + 31 / 60, 48 + 7.042 / 60, 11 + 31 / 60)
    assert last.speed_mps == pytest.approx(step, rel=1e-6)
    assert last.climb_mps == pytest.approx(2.0)
    assert last.mode == FixMode.FIX_3D


def test_steady_stream_reports_every_epoch_with_all_fields() -> None:
    parser = NmeaParser()
    epochs = 50
    by_time: dict[str | None, GnssFix] = {}
    for i in range(epochs):  # 10 Hz
        spec = EpochSpec(time=T0 + dt.timedelta(milliseconds=100 * i), lat=48.1 + i * 1e-5,
                         lon=11.5, alt=500.0 + i, speed_mps=12.0, track=10.0, satellites=9)
        for f in parser.feed(b"".join(epoch_sentences(spec)), t=float(i)):
            by_time[when(f)] = f
    assert len(by_time) == epochs
    final = by_time["2024-05-01T12:00:04.900Z"]
    assert final.mode == FixMode.FIX_3D
    assert final.lat == pytest.approx(48.1 + 49e-5, abs=1e-6)
    assert final.alt == pytest.approx(549.0)
    assert final.speed_mps == pytest.approx(12.0, abs=1e-3)
    assert final.satellites_used == 9
    assert final.satellites_visible == 12
    assert final.t == 49.0  # host time of the bytes that completed the fix


def test_unknown_ignored_and_short_sentences_are_counted_not_decoded() -> None:
    m = FixMerger()
    feed(m, "GPXYZ,1,2,3", "PUBX,00,1", "GPRMC,120000,A", "GPRMB,A,0.66,L,003,004")
    c = m.counters.as_dict()
    assert (c["unknown"], c["ignored"], c["too_short"], c["decoded"]) == (1, 2, 1, 0)


# --- impossible values: valid checksums, absurd contents (issue 9) ----------------------------

def hostile_epochs(merger: FixMerger, n: int = 4, **kw: str) -> list[GnssFix]:
    """``n`` one-second epochs of RMC + GGA; ``kw`` replaces fields of both (see rmc/gga)."""
    rmc_kw = {k: v for k, v in kw.items() if k in ("knots", "track", "lat", "lon")}
    gga_kw = {k: v for k, v in kw.items() if k in ("sats", "alt", "lat", "lon")}
    fixes: list[GnssFix] = []
    for i in range(n):
        hhmmss = f"1200{i:02d}.00"
        fixes += feed(merger, rmc(hhmmss, **rmc_kw), gga(hhmmss, **gga_kw))
    return fixes


def test_gga_altitude_of_1e308_never_reaches_a_fix() -> None:
    m = FixMerger()
    fixes = hostile_epochs(m, alt="1e308")
    assert fixes
    assert all(f.alt is None for f in fixes)
    assert all(f.climb_mps is None for f in fixes)
    assert fixes[-1].lat == pytest.approx(48.1173)  # the rest of the sentence is kept
    assert fixes[-1].mode == FixMode.FIX_2D  # no altitude: not a 3D fix
    assert m.refusals.counts["gnss.alt"] == 4  # one per GGA


def test_infinite_altitude_is_refused_too() -> None:
    m = FixMerger()
    assert all(f.alt is None for f in hostile_epochs(m, alt="1e999"))
    assert m.refusals.counts["gnss.alt"] == 4


def test_negative_speed_is_refused_and_counted() -> None:
    m = FixMerger()
    fixes = hostile_epochs(m, knots="-50.0")
    assert fixes
    # refused, so the speed is the one derived from positions (standing still: 0)
    assert all(f.speed_mps is None or f.speed_mps >= 0 for f in fixes)
    assert m.refusals.counts["gnss.speed_mps"] == 4


def test_speed_above_400_kmh_is_refused() -> None:
    m = FixMerger()
    fixes = hostile_epochs(m, knots="5000.0")  # 9,260 km/h
    assert all(f.speed_mps is None or f.speed_mps <= 400 / 3.6 for f in fixes)
    assert m.refusals.counts["gnss.speed_mps"] == 4


def test_track_of_639_degrees_is_refused_not_wrapped() -> None:
    m = FixMerger()
    fixes = hostile_epochs(m, track="639.0")
    assert fixes
    assert all(f.track is None for f in fixes)  # gpsd would have wrapped it to 279
    assert m.refusals.counts["gnss.track"] == 4


@pytest.mark.parametrize(("lat", "lon"), [("9500.000", "01131.000"), ("4807.038", "19000.000")])
def test_position_out_of_range_gives_no_fix(lat: str, lon: str) -> None:
    m = FixMerger()
    fixes = hostile_epochs(m, lat=lat, lon=lon)
    assert fixes
    assert all(f.lat is None and f.lon is None for f in fixes)
    assert all(f.mode <= FixMode.NO_FIX for f in fixes)
    assert m.refusals.total == 8  # RMC and GGA, four epochs


def test_absurd_hdop_is_refused() -> None:
    m = FixMerger()
    fixes = feed(m, rmc("120000.00"),
                 "GPGGA,120000.00,4807.038,N,01131.000,E,1,08,-3.5,545.4,M,46.9,M,,",
                 "GPGNS,120001.00,4807.038,N,01131.000,E,AA,08,5000,545.4,46.9,,,S")
    assert all(f.hdop is None for f in fixes)
    assert m.refusals.counts["gnss.dop"] == 2


def test_more_than_99_satellites_used_gives_no_fix_from_that_sentence() -> None:
    m = FixMerger()
    fixes = feed(m, gga("120000.00", sats="150"))
    assert fixes[-1].mode == FixMode.NO_FIX
    assert fixes[-1].lat is None
    assert m.refusals.counts["gnss.satellites"] == 1


def test_plausible_epochs_refuse_nothing() -> None:
    m = FixMerger()
    fixes = hostile_epochs(m)
    assert fixes[-1].alt == pytest.approx(545.4)
    assert fixes[-1].track == pytest.approx(45.0)
    assert m.refusals.total == 0
    assert NmeaParser().counters()["implausible"] == 0
