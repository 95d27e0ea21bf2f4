"""Capture files: candump -L, candump -ta screen output and SLCAN lines."""

from __future__ import annotations

from pathlib import Path

from agent.sources.can.logfile import Frame, ReadStats, parse_line, parse_slcan_line, read_frames


def test_candump_log_line() -> None:
    assert parse_line("(1436509052.249713) can0 18FEF100#FF003200FFFFFFFF") == Frame(
        1436509052.249713, 0x18FEF100, True, bytes.fromhex("FF003200FFFFFFFF"))
    assert parse_line("(1.5) can1 123#0102") == Frame(1.5, 0x123, False, b"\x01\x02")
    assert parse_line("(1.5) can1 123#R") is None


def test_candump_screen_line_with_and_without_timestamp() -> None:
    assert parse_line("  can0  0CF00400   [8]  FF FF FF 40 1F FF FF FF") == Frame(
        None, 0x0CF00400, True, bytes.fromhex("FFFFFF401FFFFFFF"))
    assert parse_line("(1436509052.5)  can0  0CF00400   [2]  01 02") == Frame(
        1436509052.5, 0x0CF00400, True, b"\x01\x02")
    assert parse_line("  can0  0CF00400   [3]  01 02") is None  # dlc disagrees


def test_slcan_lines_including_timestamped_ones() -> None:
    assert parse_slcan_line("T18FEF1008FF003200FFFFFFFF") == Frame(
        None, 0x18FEF100, True, bytes.fromhex("FF003200FFFFFFFF"))
    assert parse_slcan_line("t12320102A1B2") == Frame(None, 0x123, False, b"\x01\x02")
    assert parse_slcan_line("T18FEF1008FF00") is None  # truncated
    assert parse_slcan_line("Z") is None


def test_read_frames_counts_bad_lines_and_skips_comments(tmp_path: Path) -> None:
    path = tmp_path / "cap.log"
    path.write_bytes(
        b"# truck capture\n"
        b"(1.0) can0 18FEF100#FF003200FFFFFFFF\n"
        b"garbage\n"
        b"T0CF004008FFFFFF401FFFFFFF\rT18FEFC008FFC8FFFFFFFFFFFF\r\n"
    )
    stats = ReadStats()
    frames = list(read_frames(path, stats))
    assert [f.can_id for f in frames] == [0x18FEF100, 0x0CF00400, 0x18FEFC00]
    assert (stats.lines, stats.frames, stats.bad_lines) == (4, 3, 1)
