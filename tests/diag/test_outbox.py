"""``edge-agent diag outbox``: counts per lane, in flight, bytes, evictions, dead letters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.store.outbox import Outbox
from tests.store.events_factory import IDENTITY, alarm, hardware, periodic


def _config(tmp_path: Path, data_dir: Path, max_bytes: int = 1024 * 1024) -> Path:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{data_dir}"\nmax_bytes = {max_bytes}\n')
    return cfg


def _populate(data_dir: Path) -> Outbox:
    """A running agent's outbox: lanes, rows in flight, evictions, a dead letter."""
    (data_dir).mkdir(parents=True)
    (data_dir / "outbox.sqlite3").write_bytes(b"garbage from a dying SD card" * 10)
    box = Outbox(data_dir, IDENTITY, max_bytes=1024 * 1024)
    box.append_many([alarm(i) for i in range(3)] + [hardware(3)])
    for b in range(3):
        box.append_many([periodic(b * 1000 + i) for i in range(500)])
    claimed = box.claim(2)  # two alarms in flight
    box.dead_letter(claimed[0].row_id, "NotProcess: latitude out of range")
    return box


def test_json_report_while_the_agent_holds_the_outbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    box = _populate(data_dir)
    try:
        expected = box.stats()
        assert main(["diag", "outbox", "--config", str(_config(tmp_path, data_dir)), "--json"]) == 0
    finally:
        box.close()
    doc = json.loads(capsys.readouterr().out)
    assert doc["pending"] == {"ALARM": 1, "HARDWARE": 1,
                              "PERIODIC": expected.pending[4]}
    assert doc["in_flight"] == 1
    assert doc["evicted"] == {"PERIODIC": expected.evicted[4]}
    assert expected.evicted[4] > 0
    assert doc["dead_letters"] == 1
    assert doc["dead_letter_list"][0]["error"] == "NotProcess: latitude out of range"
    assert doc["next_sequence"] == 1505
    assert doc["used_bytes"] == expected.used_bytes
    assert doc["max_bytes"] == 1024 * 1024
    assert len(doc["quarantined"]) == 1 and doc["quarantined"][0].startswith("outbox.sqlite3.")
    assert doc["disk_full"] is False
    assert set(doc["oldest_pending_ms"]) == set(doc["pending"])


def test_text_report_names_lanes_dead_letters_and_quarantine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    _populate(data_dir).close()
    assert main(["diag", "outbox", "--config", str(_config(tmp_path, data_dir))]) == 0
    text = capsys.readouterr().out
    assert "next sequence  1505" in text
    assert "ALARM" in text and "PERIODIC" in text
    assert "latitude out of range" in text
    assert "outbox.sqlite3.corrupt-" in text
    assert "in flight              1" in text
    assert "oldest pending" in text
    periodic_line = next(line for line in text.splitlines() if line.startswith("PERIODIC"))
    assert periodic_line.endswith(" s")  # its oldest pending event's age, seconds old


def test_no_outbox_is_an_error_not_a_new_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "nothing-here"
    assert main(["diag", "outbox", "--config", str(_config(tmp_path, data_dir))]) == 1
    assert "no outbox database" in capsys.readouterr().err
    assert not data_dir.exists()


def test_requeue_a_dead_letter_with_no_agent_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with Outbox(data_dir, IDENTITY, max_bytes=1024 * 1024) as box:
        box.append_many([alarm(0), alarm(1)])
        letter = box.claim(1)[0]
        box.dead_letter(letter.row_id, "NotProcess: bad")
        box.release([r.row_id for r in box.claim(10)])
    cfg = str(_config(tmp_path, data_dir))
    assert main(["outbox", "--config", cfg, "--requeue", str(letter.row_id)]) == 0
    assert main(["outbox", "--config", cfg, "--requeue", "999"]) == 1
    out = capsys.readouterr().out
    assert f"dead letter {letter.row_id}: requeued" in out
    assert "dead letter 999: no such dead letter" in out
    with Outbox(data_dir, IDENTITY, max_bytes=1024 * 1024) as box:
        assert box.stats().dead_letters == 0
        assert sum(box.stats().pending.values()) == 2
