"""Config: embedded defaults run, TOML + env override, bad input stops with one clear line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel

from agent.config import AgentConfig, load_config
from agent.errors import ConfigError
from agent.vehicle.settings import FusionSettings

REPO = Path(__file__).resolve().parent.parent


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
        ('[log]\nlevel = "LOUD"\n', "log.level: Value error, must be one of DEBUG, INFO"),
        ('[cloud]\nurl = "http://[::1"\n', "cloud.url: Value error, not a valid URL"),
        ('[cloud]\nurl = "http://bad host:8080"\n', "cloud.url: Value error, must not contain spaces"),
        ('[cloud]\nurl = "http://exa\tmple.com"\n', "cloud.url: Value error, must not contain spaces"),
        ('[cloud]\nurl = "http://"\n', "cloud.url: Value error, has no host"),
        ('[cloud]\nurl = "http://a..b"\n', "cloud.url: Value error, host 'a..b' is not a valid host"),
        ('[cloud]\nurl = "http://h:99999"\n', "cloud.url: Value error, not a valid URL"),
        ('[cloud]\nurl = "http://h/api?x=1"\n', "cloud.url: Value error, must not have a query"),
        ("[cloud]\nbackoff_initial_s = 400\nbackoff_max_s = 300\n",
         "cloud: Value error, backoff_initial_s (400) must not exceed backoff_max_s (300)"),
        ("[storage]\nmax_bytes = 1e26\n", "storage.max_bytes:"),
        ("[storage]\nmax_bytes = 1e18\n", "storage.max_bytes: Input should be less than or equal to"),
        (f"[storage]\nmax_bytes = {10**26}\n", "storage.max_bytes: Input should be less than or equal to"),
        ("[vehicle.can]\nreconnect_s = 0\n", "vehicle.can.reconnect_s: Input should be greater than or equal to 0.01"),
        ("[vehicle.obd]\nreconnect_s = 0\n", "vehicle.obd.reconnect_s: Input should be greater than or equal to 0.01"),
        ("[vehicle.obd]\nmax_consecutive_errors = 0\n", "vehicle.obd.max_consecutive_errors"),
        ("[vehicle.can]\nflush_interval_s = 3600\n", "vehicle.can.flush_interval_s: Input should be less than or equal to 1"),
        ("[vehicle.gnss]\nbaudrate = 1e12\n", "vehicle.gnss.baudrate: Input should be less than or equal to"),
        ("[dms]\nsleep_s = 1e9\n", "dms.sleep_s: Input should be less than or equal to 60"),
        ("[vision.evidence]\nmax_video_s = 600\n", "vision.evidence.max_video_s: Input should be less than or equal to 180"),
        ('[storage]\ndata_dir = "var/a\\u0000b"\n', "storage.data_dir: must not contain a NUL character"),
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


def test_a_cloud_url_that_httpx_can_use_is_kept_normalised(tmp_path: Path) -> None:
    f = tmp_path / "a.toml"
    f.write_text('[cloud]\nurl = "HTTPS://[::1]:8443/edge/"\n')
    assert load_config(f).cloud.url == "https://[::1]:8443/edge"


def test_log_level_is_case_insensitive(tmp_path: Path) -> None:
    f = tmp_path / "a.toml"
    f.write_text('[log]\nlevel = "debug"\n')
    assert load_config(f).log.level == "DEBUG"


def test_config_path_that_is_a_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory, not a config file"):
        load_config(tmp_path)


def test_config_path_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "agent.toml"
    os.mkfifo(fifo)  # nobody writes: reading it would block start-up forever
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(fifo)


def _without_root_override() -> list[str]:
    """A command prefix under which a chmod 000 file really is unreadable: as root, drop the
    capabilities that let root read anything (the service user has neither)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is missing: root reads any file")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("EDGE_AGENT_")}


def test_config_file_the_service_user_cannot_read_exits_78_with_one_line(tmp_path: Path) -> None:
    f = tmp_path / "agent.toml"
    f.write_text("[log]\nlevel = \"INFO\"\n")
    f.chmod(0)
    proc = subprocess.run(
        [*_without_root_override(), sys.executable, "-m", "agent", "run", "--config", str(f)],
        capture_output=True, text=True, check=False, cwd=REPO, env=_clean_env(), timeout=60,
    )  # fmt: skip
    assert proc.returncode == 78, proc.stderr
    assert proc.stderr.strip() == (
        f"edge-agent: config error: {f}: cannot read the config file: Permission denied"
    )


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("EDGE_AGENT_VEHICLE__GNSS", "{not json",
         "environment EDGE_AGENT_VEHICLE__GNSS: vehicle.gnss: not valid JSON"),
        ("EDGE_AGENT_VEHICLE__POWER__INVERTED", "acc",
         "environment EDGE_AGENT_VEHICLE__POWER__INVERTED: vehicle.power.inverted: not valid JSON"),
        ("EDGE_AGENT_CLOUD_URL", "https://typo.example",  # one underscore: names no setting
         "environment EDGE_AGENT_CLOUD_URL: unknown setting 'cloud_url'"),
        ("EDGE_AGENT_CLOUD__URLL", "https://typo.example",
         "environment EDGE_AGENT_CLOUD__URLL: unknown setting 'cloud.urll'"),
        ("edge_agent_bogus", "1", "environment edge_agent_bogus: unknown setting 'bogus'"),
        ("EDGE_AGENT_CLOUD__TIMEOUT_S", "soon",
         "environment EDGE_AGENT_CLOUD__TIMEOUT_S: cloud.timeout_s: Input should be a valid number"),
        ("EDGE_AGENT_CLOUD__URL", "http://[::1", "environment EDGE_AGENT_CLOUD__URL: cloud.url:"),
    ],
)
def test_bad_environment_override_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str
) -> None:
    f = tmp_path / "agent.toml"
    f.write_text('[cloud]\nurl = "https://cloud.example"\n')
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_edge_agent_config_is_the_path_not_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "agent.toml"
    f.write_text("[rules]\nmax_speed_kmh = 80\n")
    monkeypatch.setenv("EDGE_AGENT_CONFIG", str(f))
    monkeypatch.setenv("EDGE_AGENT_VEHICLE__GNSS", '{"backend": "serial", "baudrate": 4800}')
    cfg = load_config()
    assert cfg.rules.max_speed_kmh == 80
    assert (cfg.vehicle.gnss.backend, cfg.vehicle.gnss.baudrate) == ("serial", 4800)


def test_cli_run_with_a_bad_config_exits_78_with_one_line_and_no_traceback(
    tmp_path: Path,
) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('[cloud]\nurl = "http://[::1"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(f)],
        capture_output=True, text=True, check=False, cwd=REPO, env=_clean_env(), timeout=60,
    )  # fmt: skip
    assert proc.returncode == 78
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"edge-agent: config error: {f}: cloud.url: ")


def test_cli_run_with_a_bad_environment_exits_78_with_one_line(tmp_path: Path) -> None:
    env = {**_clean_env(), "EDGE_AGENT_VEHICLE__GNSS": "{not json"}
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run"],
        capture_output=True, text=True, check=False, cwd=REPO, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 78
    assert proc.stderr.strip().count("\n") == 0
    assert "EDGE_AGENT_VEHICLE__GNSS" in proc.stderr


def _run_briefly(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    f = tmp_path / "agent.toml"
    f.write_text(
        '[log]\nlevel = "WARNING"\n'
        '[cloud]\nurl = "http://127.0.0.1:9"\nbackoff_initial_s = 0.05\nbackoff_max_s = 0.2\n'
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
    )
    return subprocess.run(
        [sys.executable, "-m", "agent", *flags, "run", "--config", str(f), "--duration", "1"],
        capture_output=True, text=True, check=False, cwd=REPO, env=_clean_env(), timeout=60,
    )  # fmt: skip


def test_log_level_flag_overrides_the_config_level(tmp_path: Path) -> None:
    quiet = _run_briefly(tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert " DEBUG " not in quiet.stderr and " INFO " not in quiet.stderr  # [log] WARNING
    loud = _run_briefly(tmp_path, "--log-level", "debug")
    assert loud.returncode == 0, loud.stderr
    assert " DEBUG " in loud.stderr


def _settings_models() -> list[type[BaseModel]]:
    """Every settings model reachable from the config, plus the fusion tunables."""
    seen: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [AgentConfig, FusionSettings]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                todo.append(ann)
    return seen


def test_every_duration_and_count_has_a_lower_and_an_upper_bound() -> None:
    unbounded = []
    for model in _settings_models():
        for name, field in model.model_fields.items():
            if field.annotation not in (int, float):
                continue  # bool, str, paths, literals, sections
            lower = any(isinstance(m, Ge | Gt) for m in field.metadata)
            upper = any(isinstance(m, Le | Lt) for m in field.metadata)
            if not (lower and upper):
                unbounded.append(f"{model.__name__}.{name}")
    assert not unbounded, unbounded
