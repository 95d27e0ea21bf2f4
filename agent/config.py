"""Agent configuration: a TOML file under ``config/`` plus ``EDGE_AGENT_*`` environment overrides.

Precedence (highest first): environment (``EDGE_AGENT_CLOUD__URL=...``, nested with ``__``),
then the TOML file, then the defaults embedded here. Anything wrong stops start-up with one line
naming the field (or the file, or the environment variable) and the problem
(:class:`agent.errors.ConfigError`; ``edge-agent`` exits 78, which systemd does not restart):
a file that is missing, unreadable or not a regular file, invalid TOML, a value of the wrong
type or outside its bounds (every duration and count has both), a cross-field rule, a cloud URL
httpx could not use, an ``EDGE_AGENT_*`` variable that names no setting or whose JSON does not
parse. ``EDGE_AGENT_CONFIG`` is the one variable that is not a setting: the config file's path.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import re
import stat
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from agent.dms.settings import DmsSettings
from agent.errors import ConfigError
from agent.events import DeviceIdentity
from agent.orders.settings import OrdersSettings
from agent.rules.settings import RuleThresholds
from agent.runtime.settings import RuntimeSettings
from agent.section import StrictModel
from agent.sources.settings import VehicleSettings
from agent.ulid import is_ulid
from agent.vision.settings import VisionSettings

ENV_PREFIX = "EDGE_AGENT_"
CONFIG_ENV = "EDGE_AGENT_CONFIG"


class DeviceSettings(StrictModel):
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


_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")


def check_cloud_url(url: str) -> str:
    """The cloud base URL, or ``ValueError`` saying what is wrong with it.

    httpx accepts things it cannot connect to (``http://bad host`` becomes ``bad%20host``) and
    urllib silently drops tabs, so the checks are explicit: http(s) scheme; no whitespace or
    control characters; a host that is a DNS name (IDNA allowed), an IPv4 address or a
    bracketed IPv6 address; a port in 1..65535; no ``user:password@`` (it would be logged);
    no query or fragment (paths are appended to the base URL). A trailing ``/`` is removed
    and the scheme lower-cased.
    """
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number in 0..65535
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not url.lower().startswith(parts.scheme + "://"):
        raise ValueError("must start with http:// or https://")
    host = parts.hostname or ""
    if not host:
        raise ValueError("has no host")
    if port == 0:
        raise ValueError("port must be 1..65535")
    if "@" in parts.netloc:  # it would be logged with the URL; the secret has its own field
        raise ValueError("must not contain credentials (user:password@)")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError("must not have a query or fragment")
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"host [{host}] is not an IPv6 address") from None
    else:
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"host {host!r} is not a valid host name") from None
        labels = ascii_host.rstrip(".").split(".")
        if len(ascii_host) > 253 or not all(_HOST_NAME.match(label) for label in labels):
            raise ValueError(f"host {host!r} is not a valid host name") from None
    return parts.scheme + url[len(parts.scheme):].rstrip("/")  # scheme in lower case


class CloudSettings(StrictModel):
    url: str = "http://127.0.0.1:8080"
    client_id: str = "demo-device"
    client_secret: SecretStr = SecretStr("demo-secret")
    batch_size: int = Field(500, ge=1, le=5000)
    timeout_s: float = Field(15.0, gt=0, le=300)  # one HTTP request, connect to last byte
    gzip: bool = True
    # Retry delays: full-jitter exponential backoff from initial to max (docs/uplink.md).
    backoff_initial_s: float = Field(1.0, ge=0.01, le=3600)
    backoff_max_s: float = Field(300.0, ge=0.01, le=86400)
    verify_tls: bool = True
    # PEM CA bundle (a private CA or the cloud's self-signed cert) trusted INSTEAD of the default
    # store for https URLs; verify_tls = false turns verification off altogether (docs/uplink.md).
    ca_file: Path | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_cloud_url(v)

    @model_validator(mode="after")
    def _backoff_order(self) -> CloudSettings:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_initial_s ({self.backoff_initial_s:g}) must not exceed "
                f"backoff_max_s ({self.backoff_max_s:g})"
            )
        return self


class StorageSettings(StrictModel):
    data_dir: Path = Path("var/lib/edge-agent")
    # Outbox cap incl. files: at least 1 MiB, at most 4 TiB (no SD card or eMMC is larger).
    max_bytes: int = Field(512 * 1024 * 1024, ge=1024 * 1024, le=4 * 1024**4)
    group_commit_max: int = Field(1000, ge=1, le=100_000)  # events per SQLite transaction
    group_commit_wait_ms: float = Field(5.0, ge=0, le=1000)  # wait for more before committing

    @property
    def database(self) -> Path:
        return self.data_dir / "outbox.sqlite3"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class LogSettings(StrictModel):
    level: str = "INFO"  # one of LOG_LEVELS, any case; ``edge-agent --log-level`` overrides it

    @field_validator("level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return v.upper()


class AgentConfig(BaseSettings):
    """The whole configuration; every section has embedded defaults so an empty file runs."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )
    _toml_data: ClassVar[dict[str, Any] | None] = None  # the parsed file, None = no file

    device: DeviceSettings = DeviceSettings()
    cloud: CloudSettings = CloudSettings()
    storage: StorageSettings = StorageSettings()
    log: LogSettings = LogSettings()
    vehicle: VehicleSettings = VehicleSettings()
    rules: RuleThresholds = RuleThresholds()
    dms: DmsSettings = DmsSettings()
    vision: VisionSettings = VisionSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    orders: OrdersSettings = OrdersSettings()

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
        if cls._toml_data is not None:
            sources.append(InitSettingsSource(settings_cls, init_kwargs=cls._toml_data))
        return tuple(sources)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe(err: ValidationError, origin: str, env: Mapping[tuple[str, ...], str]) -> str:
    first = err.errors()[0]
    loc = tuple(str(p) for p in first["loc"])
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    # A value that came from the environment is blamed on its variable, not on the file.
    for path, key in env.items():
        if loc[: len(path)] == path:
            origin = f"environment {key}"
            break
    extra = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return _one_line(f"{origin}: {'.'.join(loc) or '(root)'}: {msg}{extra}")


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed file, or :class:`ConfigError` with one line saying why it cannot be used.

    Opened non-blocking and checked with ``fstat``: a FIFO or a device would otherwise block
    start-up forever, and a directory is refused as such (both fail for root too).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{path}: is a directory, not a config file")
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{path}: not a regular file")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except OSError as exc:
        why = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise ConfigError(f"{path}: cannot read the config file: {why}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_one_line(f"{path}: not valid TOML: {exc}")) from None


def _reject_nul(value: object, where: tuple[str, ...], path: Path) -> None:
    """A NUL character (TOML ``\\u0000``) in any string: no path or name can hold one, and it
    would surface as a ValueError far from the config (``embedded null byte``)."""
    if isinstance(value, str) and "\x00" in value:
        raise ConfigError(f"{path}: {'.'.join(where)}: must not contain a NUL character")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(item, (*where, str(key)), path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_nul(item, (*where, str(index)), path)


def _is_complex(annotation: Any) -> bool:
    """Whether pydantic-settings reads this field's environment value as JSON."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, dict, set, frozenset):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_complex(a) for a in typing.get_args(annotation) if a is not type(None))
    return False


def environment_overrides(environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """Field path -> variable for every ``EDGE_AGENT_*`` setting in ``environ``.

    Raises :class:`ConfigError` for a variable that names no setting (a typo would otherwise be
    ignored silently) or whose value should be JSON (a section, a list) and does not parse.
    Matching is case-insensitive, as pydantic-settings' is.
    """
    found: dict[tuple[str, ...], str] = {}
    for key, value in environ.items():
        upper = key.upper()
        if not upper.startswith(ENV_PREFIX) or upper == CONFIG_ENV:
            continue
        parts = tuple(key[len(ENV_PREFIX):].lower().split("__"))
        model: type[BaseModel] | None = AgentConfig
        annotation: Any = None
        for i, part in enumerate(parts):
            field = model.model_fields.get(part) if model is not None else None
            if field is None:
                name = ".".join(parts[: i + 1])
                raise ConfigError(_one_line(
                    f"environment {key}: unknown setting {name!r} "
                    f"(EDGE_AGENT_<SECTION>__<FIELD>, e.g. EDGE_AGENT_CLOUD__URL)"))
            annotation = field.annotation
            is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
            model = annotation if is_model else None
        if _is_complex(annotation):
            try:
                json.loads(value)
            except ValueError as exc:
                raise ConfigError(_one_line(
                    f"environment {key}: {'.'.join(parts)}: not valid JSON ({exc})"
                )) from None
        found[parts] = key
    return found


def load_config(path: Path | None = None, **overrides: Any) -> AgentConfig:
    """Load and validate; raise :class:`ConfigError` with one readable line on any problem."""
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    origin = str(path) if path else "config"
    data = read_toml(path) if path is not None else None
    if path is not None:
        _reject_nul(data, (), path)
    env = environment_overrides(os.environ)
    cls = type("LoadedAgentConfig", (AgentConfig,), {"_toml_data": data})
    try:
        return cls(**overrides)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin, env)) from None
    except SettingsError as exc:  # a value pydantic-settings could not even parse
        raise ConfigError(_one_line(f"environment: {exc}")) from None
