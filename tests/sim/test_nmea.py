"""Rendered NMEA is valid and consistent: the agent's own parser recovers the truth from it."""

from __future__ import annotations

import pytest

from agent.sim import Scenario, simulate
from agent.sim.nmea import checksum, epoch_sentences
from agent.sources.gnss import NmeaParser
from agent.sources.gnss.replay import nmea as reference_nmea
from agent.sources.readings import FixMode
from agent.vehicle.geo import haversine_m

SC = Scenario.model_validate({
    "duration_s": 60, "route": [(43.2389, 76.8897), (43.26, 76.92)],
    "plan": [{"t": 0, "ignition": True}, {"t": 2, "speed_kmh": 72}],
    "gnss_outage": [{"start": 30, "end": 35, "mode": "no_fix"},
                    {"start": 40, "end": 45, "mode": "jammed"},
                    {"start": 50, "end": 55, "mode": "silent"}],
})  # fmt: skip


def test_checksum_agrees_with_the_gnss_helper() -> None:
    body = "GPGGA,080000.00,4314.33400,N,07653.38200,E,1,10,0.9,800.0,M,0.0,M,,"
    assert f"${body}*{checksum(body)}\r\n".encode() == reference_nmea(body)


def test_the_parser_recovers_position_speed_and_course_from_every_epoch() -> None:
    parser = NmeaParser()
    visible = 0  # GSV closes an epoch after its report: the count shows one epoch later
    for tr in simulate(SC, dt=1.0):
        data = b"".join(epoch_sentences(tr, SC.start_epoch + tr.t))
        fixes = parser.feed(data, SC.start_epoch + tr.t)
        if tr.gnss == "silent":
            assert data == b""
            continue
        last = fixes[-1]
        assert last.time_ms == round((SC.start_epoch + tr.t) * 1000)
        if tr.gnss == "ok":
            assert last.mode == FixMode.FIX_3D
            assert last.lat is not None
            assert last.lon is not None
            assert haversine_m(last.lat, last.lon, tr.lat, tr.lon) < 0.05
            assert last.speed_mps == pytest.approx(tr.speed_mps, abs=0.001)
            assert last.track == pytest.approx(tr.heading, abs=0.01)
            assert last.satellites_used == 10
            assert last.satellites_visible in (visible, 10)
        else:
            assert last.mode == FixMode.NO_FIX
            assert last.satellites_used == 0
            now_visible = {"no_fix": 3, "jammed": 0}[tr.gnss]
            assert last.satellites_visible in (visible, now_visible)
            if tr.t in (31.0, 41.0):  # one epoch into the outage: the sky as rendered
                assert last.satellites_visible == now_visible
        visible = {"ok": 10, "no_fix": 3, "jammed": 0}[tr.gnss]
    c = parser.counters()
    assert c["bad_checksum"] == 0
    assert c["sentences"] == c["decoded"] > 300
