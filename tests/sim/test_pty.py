"""PtyPort: a real pty behind a stable link; unplug gives the reader EIO; writes never block."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import serial

from agent.sim.pty import PtyPort, slcan_responder


def test_bytes_reach_a_serial_reader_through_the_link(tmp_path: Path) -> None:
    port = PtyPort(tmp_path / "gnss")
    try:
        with serial.Serial(str(tmp_path / "gnss"), 9600, timeout=1.0) as ser:
            port.write(b"$GPGGA,hello\r\n")
            assert ser.readline() == b"$GPGGA,hello\r\n"
    finally:
        port.close()


def test_unplug_gives_eio_and_replug_a_new_device_behind_the_same_link(tmp_path: Path) -> None:
    link = tmp_path / "can"
    port = PtyPort(link)
    assert os.readlink(link).startswith("/dev/pts/")
    ser = serial.Serial(str(link), 115200, timeout=0.5)
    port.unplug()
    assert not link.exists()
    with pytest.raises(serial.SerialException):
        ser.read(1)  # select says readable, read returns nothing/EIO: "device disconnected"
    ser.close()
    port.write(b"dropped while unplugged")
    assert port.dropped_bytes == len(b"dropped while unplugged")
    port.replug()
    try:
        assert link.is_symlink()
        with serial.Serial(str(link), 115200, timeout=1.0) as ser2:
            port.write(b"back\r")
            assert ser2.read(5) == b"back\r"
    finally:
        port.close()


def test_writes_never_block_when_nobody_reads(tmp_path: Path) -> None:
    port = PtyPort(tmp_path / "x")
    try:
        t0 = time.monotonic()
        for _ in range(200):
            port.write(b"x" * 1024)
        assert time.monotonic() - t0 < 1.0
        assert port.dropped_bytes > 0  # the pty buffer filled up; the rest overflowed
    finally:
        port.close()


def test_slcan_responder_answers_a_python_can_set_up(tmp_path: Path) -> None:
    port = PtyPort(tmp_path / "can", slcan_responder)
    try:
        with serial.Serial(str(tmp_path / "can"), 115200, timeout=1.0) as ser:
            ser.write(b"C\rS5\rL\rV\rX\r")
            assert ser.read(10) == b"\r\r\rV1013\r\a"
        assert port.commands[:5] == [b"C", b"S5", b"L", b"V", b"X"]
    finally:
        port.close()
