"""Every gpsd regression capture decodes to the fixes gpsd reported for it (its ``.chk``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.sources.gnss import SentenceFramer, read_capture
from tests.sources.gnss.gpsd_oracle import (
    CAPTURE_NAMES,
    as_tpv,
    decode,
    differences,
    echoed_sentences,
    expected_tpvs,
    per_epoch,
)


@pytest.fixture
def gpsd_dir(shared_dir: Path) -> Path:
    return shared_dir / "testdata" / "gpsd"


def test_every_capture_in_shared_testdata_is_exercised(gpsd_dir: Path) -> None:
    on_disk = sorted(p.name for p in gpsd_dir.glob("*.log"))
    assert len(on_disk) == 41
    assert on_disk == CAPTURE_NAMES  # the parametrised list below is the whole directory
    assert all((gpsd_dir / (name + ".chk")).is_file() for name in on_disk)


@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_capture_epochs_match_gpsd_fixes(gpsd_dir: Path, name: str) -> None:
    """README recipe: per UTC epoch, gpsd's merged TPV equals ours (mode, position, altitude,
    speed, track); every gpsd epoch is present and we invent none."""
    log = gpsd_dir / name
    fixes, _ = decode(log)
    expected = per_epoch(expected_tpvs(log))
    got = per_epoch(as_tpv(f) for f in fixes)
    problems = [f"{when}: {d}" for when, tpv in expected.items()
                for d in (differences(tpv, got[when]) if when in got else ["missing epoch"])]
    extra = sorted(set(got) - set(expected))
    assert not problems, "\n".join(problems[:20])
    assert not extra, f"epochs gpsd did not report: {extra[:5]}"


@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_capture_fix_updates_follow_gpsd_report_cycle(gpsd_dir: Path, name: str) -> None:
    """Stronger than per epoch: the same number of fix updates as gpsd's TPV reports, in the
    same order, each with the same mode, time and fields (partial first epochs included)."""
    log = gpsd_dir / name
    fixes, _ = decode(log)
    expected = expected_tpvs(log)
    got = [as_tpv(f) for f in fixes]
    assert len(got) == len(expected)
    for index, (e, g) in enumerate(zip(expected, got, strict=True)):
        assert not differences(e, g), f"report {index}: {differences(e, g)}"


@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_capture_accepted_sentences_are_those_gpsd_accepted(gpsd_dir: Path, name: str) -> None:
    """gpsd echoes exactly the sentences its packet layer accepted: bad checksums, missing
    checksums, NUL-damaged and truncated lines must be rejected, repairs ($$, spliced) kept."""
    framer = SentenceFramer()
    accepted = framer.feed(read_capture(gpsd_dir / name).body)
    framer.flush()
    assert accepted == echoed_sentences(gpsd_dir / name)


def test_bad_checksum_lines_rejected_and_counted(gpsd_dir: Path) -> None:
    # firefly-II: every GGA (23) carries a bad checksum; gpsd ignores them, and so do we
    fixes, parser = decode(gpsd_dir / "firefly-II.log")
    counters = parser.counters()
    assert counters["bad_checksum"] == 23
    assert all(f.alt is None for f in fixes)  # the altitude only GGA carries never got in
    # the cold-boot log: NULs, truncated and merged lines
    _, cold = decode(gpsd_dir / "gp-320fw-2019-04-07-coldboot.log")
    c = cold.counters()
    assert c["nul_bytes"] == 12
    assert c["non_ascii"] == 1
    assert c["bad_checksum"] == 32
    assert c["truncated"] == 9
    assert c["sentences"] == len(echoed_sentences(gpsd_dir / "gp-320fw-2019-04-07-coldboot.log"))


def test_doubled_dollar_and_missing_checksums_counted(gpsd_dir: Path) -> None:
    _, teseo = decode(gpsd_dir / "st-teseo-liv4f.log")
    assert teseo.counters()["doubled_start"] == 330
    fixes, hp = decode(gpsd_dir / "hp58534a.log")
    assert hp.counters()["no_checksum"] == 13
    assert hp.counters()["sentences"] == 0
    assert fixes == []
