"""What the command/response clients (ELM327, the modem's AT port) need of a serial port,
and the part of such a client they share.

A pyserial ``Serial`` opened with a short read timeout satisfies :class:`SerialPort`; tests
hand in a pty-backed one or a scripted peer.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import Protocol

import serial

PORT_READ_TIMEOUT_S = 0.1  # a read with nothing to read returns this soon: a stop is seen


class SerialPort(Protocol):
    @property
    def in_waiting(self) -> int: ...
    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def reset_input_buffer(self) -> None: ...
    def close(self) -> None: ...


def open_command_port(device: str, baudrate: int) -> SerialPort:
    """A command/response device's port, opened as the daemon and ``diag`` open it: reads time
    out after :data:`PORT_READ_TIMEOUT_S` (the client sees its stop) and the port is exclusive
    (a technician's ``diag`` and the daemon never talk to one device at once)."""
    port: SerialPort = serial.Serial(device, baudrate, timeout=PORT_READ_TIMEOUT_S,
                                     write_timeout=2.0, exclusive=True)  # fmt: skip
    return port


class SerialClient(ABC):
    """A blocking command/response client over one serial port, confined to one thread.

    The owner's ``stop`` is looked at whenever a read comes back empty (every port read
    timeout), so a client waiting for an answer ends soon after the owner asks it to.
    """

    def __init__(
        self, port: SerialPort, timeout_s: float = 2.0, stop: threading.Event | None = None,
    ) -> None:
        self._port = port
        self._timeout = timeout_s
        self._stop = stop or threading.Event()

    @abstractmethod
    def _stopped(self) -> Exception:
        """The error that tells the owner its stop ended the wait."""

    def _receive(self, deadline: float) -> bytes:
        """The next bytes from the port; ``b""`` once ``deadline`` (monotonic) has passed.

        Raises :meth:`_stopped` when the owner's stop is set while nothing arrives.
        """
        port = self._port
        while True:
            chunk = port.read(port.in_waiting or 1)  # blocks up to the port's read timeout
            if chunk:
                return chunk
            if self._stop.is_set():
                raise self._stopped()
            if time.monotonic() >= deadline:
                return b""

    def close(self) -> None:
        self._port.close()
