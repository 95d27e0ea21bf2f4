"""Child of the kill -9 test: writes events for ever through the group-commit writer.

Usage: ``python -m tests.store.crash_writer DATA_DIR``. Protocol on stdout, one line each,
flushed before the next step so the parent knows what was promised when the child died:

- ``P <seq> <ulid>``: ``put`` returned, i.e. the event is durable (must survive the kill);
- ``A <ulid> ...``: the uplink stand-in is about to ack these (they may be gone).

Every tenth event carries a file whose bytes are derived from its ulid (checked by the parent).
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
import time
from pathlib import Path

from agent.events import Event
from agent.store.api import Attachment
from agent.store.outbox import Outbox
from agent.store.writer import OutboxWriter
from tests.store.events_factory import IDENTITY, alarm, hardware, periodic, vision

PRODUCERS = 32
_out_lock = threading.Lock()


def file_bytes(ulid: str) -> bytes:
    return ulid.encode() * 97


def emit(line: str) -> None:
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def uplink(box: Outbox, stop: threading.Event) -> None:
    """Claims, 'uploads' for a few ms, acks most and releases some: rows are often in flight."""
    rng = random.Random()
    while not stop.is_set():
        claimed = box.claim(rng.randint(10, 100))
        if not claimed:
            time.sleep(0.005)
            continue
        time.sleep(rng.uniform(0.02, 0.06))  # slower than the producers: a backlog builds up
        if rng.random() < 0.2:
            box.release([e.row_id for e in claimed])
            continue
        emit("A " + " ".join(e.ulid for e in claimed))
        box.ack([e.row_id for e in claimed])


async def produce(writer: OutboxWriter, k: int) -> None:
    i = k
    while True:
        make = (alarm, hardware, periodic, periodic, vision)[i % 5]
        event: Event = make(i)
        attachments: list[Attachment] = []
        if i % 10 == 0:
            event = vision(i, with_file=True)
            attachments = [Attachment(event.files[0], file_bytes(event.ulid))]
        seq = await writer.put(event, attachments)
        emit(f"P {seq} {event.ulid}")
        i += PRODUCERS


async def main(data_dir: Path) -> None:
    box = Outbox(data_dir, IDENTITY)
    stop = threading.Event()
    threading.Thread(target=uplink, args=(box, stop), daemon=True).start()
    async with OutboxWriter(box, max_batch=200, max_wait_ms=2) as writer:
        await asyncio.gather(*(produce(writer, k) for k in range(PRODUCERS)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
