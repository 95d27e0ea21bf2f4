"""Agent configuration: a TOML file under ``config/`` plus ``EDGE_AGENT_*`` environment overrides.

Precedence (highest first): environment (``EDGE_AGENT_CLOUD__URL=...``, nested with ``__``),
then the TOML file, then the defaults embedded here. A bad file stops start-up with one line
naming the field and the problem (:class:`agent.errors.ConfigError`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from agent.dms.settings import DmsSettings
from agent.errors import ConfigError
from agent.events import DeviceIdentity
from agent.rules.settings import RuleThresholds
from agent.runtime.settings import RuntimeSettings
from agent.sources.settings import VehicleSettings
from agent.ulid import is_ulid
from agent.vision.settings import VisionSettings

ENV_PREFIX = "EDGE_AGENT_"
CONFIG_ENV = "EDGE_AGENT_CONFIG"


class DeviceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_source: str = Field("862798050833538", min_length=1, max_length=32)
    account_ulid: str = "01GXRRKM43W02X5JZDSMZHAJJY"
    model: str = "EA-1"
    firmware_version: str = "0.1.0"
    version: str = "1.0"
    iccid: str = ""

    @field_validator("account_ulid")
    @classmethod
    def _ulid(cls, v: str) -> str:
        if not is_ulid(v):
            raise ValueError("must be a 26-character ULID")
        return v

    @field_validator("device_source")
    @classmethod
    def _source(cls, v: str) -> str:
        if not v.isalnum():
            raise ValueError("must be letters and digits only (an IMEI)")
        return v

    def identity(self) -> DeviceIdentity:
        return DeviceIdentity(
            device_source=self.device_source,
            account_ulid=self.account_ulid,
            model=self.model,
            firmware_version=self.firmware_version,
            version=self.version,
            iccid=self.iccid,
        )


class CloudSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = "http://127.0.0.1:8080"
    client_id: str = "demo-device"
    client_secret: SecretStr = SecretStr("demo-secret")
    batch_size: int = Field(500, ge=1, le=5000)
    timeout_s: float = Field(15.0, gt=0)
    gzip: bool = True
    backoff_initial_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(300.0, gt=0)
    verify_tls: bool = True
    # PEM CA bundle (a private CA or the cloud's self-signed cert) trusted INSTEAD of the default
    # store for https URLs; verify_tls = false turns verification off altogether (docs/uplink.md).
    ca_file: Path | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_dir: Path = Path("var/lib/edge-agent")
    max_bytes: int = Field(512 * 1024 * 1024, ge=1024 * 1024)  # outbox cap incl. files
    group_commit_max: int = Field(1000, ge=1)
    group_commit_wait_ms: float = Field(5.0, ge=0)

    @property
    def database(self) -> Path:
        return self.data_dir / "outbox.sqlite3"


class LogSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: str = "INFO"


class AgentConfig(BaseSettings):
    """The whole configuration; every section has embedded defaults so an empty file runs."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )
    _toml_path: ClassVar[Path | None] = None

    device: DeviceSettings = DeviceSettings()
    cloud: CloudSettings = CloudSettings()
    storage: StorageSettings = StorageSettings()
    log: LogSettings = LogSettings()
    vehicle: VehicleSettings = VehicleSettings()
    rules: RuleThresholds = RuleThresholds()
    dms: DmsSettings = DmsSettings()
    vision: VisionSettings = VisionSettings()
    runtime: RuntimeSettings = RuntimeSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_path))
        return tuple(sources)


def _describe(err: ValidationError, origin: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(root)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    extra = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{origin}: {loc}: {msg}{extra}"


def load_config(path: Path | None = None, **overrides: Any) -> AgentConfig:
    """Load and validate; raise :class:`ConfigError` with one readable line on any problem."""
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    origin = str(path) if path else "config"
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    cls = type("LoadedAgentConfig", (AgentConfig,), {"_toml_path": path})
    try:
        return cls(**overrides)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None
