"""A serial port that plays back fixed bytes, then times out (reads return ``b""``)."""

from __future__ import annotations


class PlaybackPort:
    def __init__(self, data: bytes, chunk: int = 7) -> None:
        self._data = bytearray(data)
        self._chunk = max(1, chunk)
        self.written = bytearray()

    @property
    def in_waiting(self) -> int:
        return min(len(self._data), self._chunk)

    def read(self, n: int = 1) -> bytes:
        n = min(n, self._chunk)
        out = bytes(self._data[:n])
        del self._data[:n]
        return out

    def write(self, data: bytes) -> int:
        self.written += data
        return len(data)

    def reset_input_buffer(self) -> None:
        pass  # keep the reply: the fuzzers want it parsed, not discarded

    def close(self) -> None:
        pass
