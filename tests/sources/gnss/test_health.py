"""Link health at exact seconds: faults and stalls announced once, recovery on the next sentence."""

from __future__ import annotations

from agent.sources.gnss.health import LinkChange, LinkHealth


def test_first_sentences_announce_the_link_up_once() -> None:
    h = LinkHealth(stall_timeout_s=5.0)
    h.connected(now=100.0)
    assert h.ok is None
    assert h.read(100.2, nbytes=300, sentences=4) == LinkChange(True, "NMEA data flowing")
    assert h.read(101.2, nbytes=300, sentences=4) is None
    assert h.ok is True


def test_no_sentence_for_the_timeout_is_a_stall_reported_once() -> None:
    h = LinkHealth(stall_timeout_s=5.0)
    h.connected(now=0.0)
    h.read(1.0, 300, 4)
    assert h.read(5.9, 0, 0) is None  # 4.9 s quiet: still fine
    change = h.read(6.0, 0, 0)  # exactly 5.0 s since the last sentence
    assert change is not None
    assert not change.ok
    assert change.detail == "no NMEA sentence for 5.0 s"
    assert h.read(30.0, 0, 0) is None  # still stalled: not repeated
    assert h.read(31.0, 80, 1) == LinkChange(True, "NMEA data flowing")


def test_stall_counts_from_the_open_when_nothing_ever_came() -> None:
    h = LinkHealth(stall_timeout_s=2.0)
    h.connected(now=10.0)
    assert h.read(11.9, 0, 0) is None
    change = h.read(12.0, 0, 0)
    assert change is not None and change.detail == "no NMEA sentence for 2.0 s"


def test_bytes_without_sentences_hint_at_the_baud_rate() -> None:
    h = LinkHealth(stall_timeout_s=2.0)
    h.connected(now=0.0)
    h.read(1.0, 64, 0)  # line noise at the wrong speed: bytes, never a valid sentence
    change = h.read(2.0, 64, 0)
    assert change is not None and not change.ok
    assert change.detail.endswith("(bytes arrive but no valid sentence: baud rate?)")


def test_port_fault_reported_once_per_outage_then_recovery() -> None:
    h = LinkHealth(stall_timeout_s=5.0)
    h.connected(0.0)
    h.read(0.5, 100, 2)
    assert h.fault("/dev/ttyACM0 lost: EIO") == LinkChange(False, "/dev/ttyACM0 lost: EIO")
    assert h.fault("cannot open /dev/ttyACM0: ENOENT") is None  # same outage, retries
    h.connected(8.0)
    assert h.read(20.0, 0, 0) is None  # already down: a stall is not a second fault
    assert h.read(20.5, 200, 3) == LinkChange(True, "NMEA data flowing")
