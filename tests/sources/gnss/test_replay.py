"""The replay helper: checksummed sentences, captures cut into epochs, paced writes into a pty."""

from __future__ import annotations

import os
import select
import time
from pathlib import Path

from agent.sources.gnss import SentenceFramer, read_capture
from agent.sources.gnss.framing import checksum_ok
from agent.sources.gnss.replay import CaptureReplay, NmeaPty, nmea, split_epochs


def read_available(fd: int, wait_s: float = 0.5) -> bytes:
    data = b""
    while select.select([fd], [], [], wait_s)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
        wait_s = 0.05
    return data


def test_nmea_adds_the_checksum_and_line_end() -> None:
    assert nmea("GPGSA,A,1,,,,,,,,,,,,,,,") == b"$GPGSA,A,1,,,,,,,,,,,,,,,*1E\r\n"
    assert checksum_ok(nmea("GPZDA,160012.71,11,03,2004,-1,00").strip())


def test_capture_splits_into_one_burst_per_utc_second(shared_dir: Path) -> None:
    body = read_capture(shared_dir / "testdata" / "gpsd" / "bu353s4.log").body
    epochs = split_epochs(body)
    assert b"".join(epochs) == body  # nothing lost or reordered
    assert len(epochs) == 25  # 030719 .. 030743
    assert all(e.count(b"GPRMC") <= 1 for e in epochs)
    assert epochs[1].startswith(b"$GPGGA,030720.000")


def test_replay_paces_epochs_and_drops_them_while_unplugged(tmp_path: Path) -> None:
    link = tmp_path / "receiver"
    epochs = [nmea(f"GPZDA,1200{i:02d}.00,01,05,2024,00,00") for i in range(20)]
    with NmeaPty(link=link) as pty:
        reader = os.open(link, os.O_RDONLY | os.O_NOCTTY)
        started = time.monotonic()
        replay = CaptureReplay(pty, epochs, epochs_per_s=50).start()
        assert replay.wait(5)
        elapsed = time.monotonic() - started
        framer = SentenceFramer()
        received = framer.feed(read_available(reader))
        os.close(reader)
        assert [s[7:13] for s in received] == [f"1200{i:02d}" for i in range(20)]
        assert elapsed >= 19 / 50 * 0.9  # paced, not dumped at once
        pty.unplug()
        assert not link.exists()
        gone = CaptureReplay(pty, epochs[:3], epochs_per_s=100).start()
        assert gone.wait(5)
        assert (gone.written, gone.dropped) == (0, 3)
        pty.replug()
        assert link.resolve() == Path(pty.slave_path)
