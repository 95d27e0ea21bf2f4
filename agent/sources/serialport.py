"""What the command/response clients (ELM327, the modem's AT port) need of a serial port.

A pyserial ``Serial`` opened with a short read timeout satisfies it; tests hand in a pty-backed
one or a scripted peer.
"""

from __future__ import annotations

from typing import Protocol


class SerialPort(Protocol):
    @property
    def in_waiting(self) -> int: ...
    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def reset_input_buffer(self) -> None: ...
    def close(self) -> None: ...
