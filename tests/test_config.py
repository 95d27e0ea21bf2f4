"""Config: embedded defaults run, TOML + env override, bad input stops with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import ConfigError


def test_no_file_runs_on_embedded_defaults() -> None:
    cfg = load_config(None)
    assert cfg.rules.max_speed_kmh == 90
    assert cfg.device.identity().device_source == cfg.device.device_source


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "agent.toml"
    f.write_text('[cloud]\nurl = "https://cloud.example"\n[device]\ndevice_source = "123456789012345"\n')
    monkeypatch.setenv("EDGE_AGENT_CLOUD__URL", "https://override.example/")
    cfg = load_config(f)
    assert cfg.cloud.url == "https://override.example"
    assert cfg.device.device_source == "123456789012345"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[cloud]\nurl = "ftp://x"\n', "cloud.url: Value error, must start with http"),
        ("[cloud]\nurll = 1\n", "cloud.urll: unknown field"),
        ("[rules]\nmax_speed_kmh = 400\n", "rules.max_speed_kmh: Input should be less than or equal to 300"),
        ('[device]\naccount_ulid = "nope"\n', "device.account_ulid: Value error, must be a 26-character ULID"),
        ("[cloud\n", "not valid TOML"),
    ],
)
def test_bad_file_names_the_field_and_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_bad_config_exits_78_with_one_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[storage]\nmax_bytes = 5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "diag", "config", "--config", str(f)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 78
    assert proc.stderr.strip().count("\n") == 0
    assert "storage.max_bytes" in proc.stderr


def test_secrets_are_masked_when_printed(tmp_path: Path) -> None:
    f = tmp_path / "a.toml"
    f.write_text('[cloud]\nclient_secret = "s3cr3t-value"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "diag", "config", "--config", str(f)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "s3cr3t-value" not in proc.stdout
    assert load_config(f).cloud.client_secret.get_secret_value() == "s3cr3t-value"


def test_shipped_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "config" / "agent.toml"
    cfg = load_config(example)
    assert cfg.vehicle.can.backend == "slcan"
    assert cfg.vision.enabled
