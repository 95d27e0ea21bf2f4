"""``edge-agent diag nmea FILE``: one gpsd-style TPV per fix update, counters on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main


def gpsd_tpvs(chk: Path) -> list[dict[str, object]]:
    lines = chk.read_bytes().decode("latin-1").split("\n")
    return [json.loads(line) for line in lines if line.startswith('{"class":"TPV"')]


def test_json_output_is_gpsds_tpv_stream(shared_dir: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    log = shared_dir / "testdata" / "gpsd" / "bu353s4.log"
    assert main(["diag", "nmea", str(log), "--json"]) == 0
    out, err = capsys.readouterr()
    ours = [json.loads(line) for line in out.splitlines()]
    theirs = gpsd_tpvs(log.with_name(log.name + ".chk"))
    assert len(ours) == len(theirs) == 27
    for mine, gpsd in zip(ours, theirs, strict=True):
        assert mine["class"] == "TPV"
        for key in ("mode", "time", "lat", "lon", "alt", "altMSL", "track", "speed"):
            assert mine.get(key) == gpsd.get(key), key  # same values at gpsd's precision
    assert ours[2]["time"] == "2014-12-31T03:07:19.000Z"
    assert "time" not in ours[0]  # GGA before any date: gpsd prints no time either
    assert err.startswith("nmea: ")
    assert "sentences 90" in err and "reports 27" in err


def test_text_output_and_reject_counters_for_a_damaged_capture(
        shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = shared_dir / "testdata" / "gpsd" / "firefly-II.log"
    assert main(["diag", "nmea", str(log)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 23
    assert lines[0].startswith("2010-07-08T00:59:47.000Z  2D ") and "m/s" in lines[0]
    assert "bad_checksum 23" in err


def test_stdin_and_comment_lines(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import sys

    data = (b"# Date: 1999-08-22\n"
            b"$GPRMC,000425.00,A,4808.9992,N,01131.0000,E,0.0,,220899,,,A*76\r\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["diag", "nmea", "-", "--json"]) == 0
    out, _ = capsys.readouterr()
    tpv = json.loads(out)
    assert tpv["time"] == "1999-08-22T00:04:25.000Z"  # century from the Date header
    assert tpv["mode"] == 2


def test_missing_file_is_reported_not_raised(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diag", "nmea", str(tmp_path / "absent.log")]) == 66
    assert "absent.log" in capsys.readouterr().err
