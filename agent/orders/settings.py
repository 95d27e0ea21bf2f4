"""The ``[orders]`` section: the MQTT broker, order signing, the journal and the safety limits.

Secrets (broker password, the order key) never appear in ``repr``/logs: the password is a
``SecretStr``; the order key lives in its own file, which must be mode 0600 (or stricter).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from agent.actuators.settings import DeviceBackends
from agent.section import StrictModel


class OrdersSettings(StrictModel):
    enabled: bool = False
    # mqtt://host:port (plain) or mqtts://host:port (TLS; port 8883 by default).
    broker_url: str = "mqtt://127.0.0.1:1883"
    keepalive_s: int = Field(60, ge=5, le=1200)
    connect_timeout_s: float = Field(10.0, gt=0, le=120)
    username: str | None = Field(None, max_length=256)
    password: SecretStr | None = None
    # TLS: the CA that signed the broker (None: the system store); a client certificate and key
    # for mutual TLS (AWS IoT Core, a private broker). Used only with mqtts://.
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    # Reconnect: capped exponential backoff with full jitter (docs/orders.md).
    backoff_initial_s: float = Field(1.0, gt=0, le=60)
    backoff_max_s: float = Field(60.0, gt=0, le=3600)

    # Order signing: a file holding the HMAC-SHA256 key (hex or raw bytes), mode 0600. When set,
    # every order must carry a valid ``signature``.
    order_key_file: Path | None = None
    # Orders issued longer ago than this (and never seen) are refused: a replay of an old
    # message after its journal row was pruned cannot act again.
    max_order_age_s: float = Field(7 * 86400, ge=60, le=90 * 86400)
    # Terminal orders are kept this long in the journal (redeliveries answered from it).
    journal_keep_s: float = Field(30 * 86400, ge=3600, le=365 * 86400)
    # None: <storage.data_dir>/orders.sqlite3 (the lead may hand the shared database instead).
    journal_file: Path | None = None
    # Status messages kept while offline; beyond it the oldest non-terminal ones are dropped.
    max_queued_statuses: int = Field(10_000, ge=100, le=1_000_000)

    # Safety: the engine is stopped (RELAY,1) only at or below this speed (CONTRACT §4: 5 km/h).
    relay_max_speed_kmh: float = Field(5.0, ge=0, le=5)
    # A waiting RELAY,1 without expiresAt gives up after this long (FAILED, not executed).
    relay_max_wait_s: float = Field(3600.0, ge=10, le=7 * 86400)
    # demand.video: the longest clip (seed: 3 minutes).
    max_video_s: float = Field(180.0, gt=0, le=180)
    # How often waiting orders are looked at again (speed) and expiries checked.
    tick_s: float = Field(1.0, gt=0, le=10)

    devices: DeviceBackends = DeviceBackends()

    @field_validator("broker_url")
    @classmethod
    def _url(cls, v: str) -> str:
        u = urlsplit(v)
        if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
            raise ValueError("must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
        if u.path not in ("", "/") or u.query or u.username or u.password:
            raise ValueError("HOST[:PORT] only (credentials go in username/password)")
        try:
            port = u.port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        if port is not None and not 0 < port < 65536:
            raise ValueError("port out of range")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> OrdersSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS)")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")
        if self.password is not None and self.username is None:
            raise ValueError("password without username")
        return self

    @property
    def tls(self) -> bool:
        return urlsplit(self.broker_url).scheme == "mqtts"

    @property
    def host(self) -> str:
        host = urlsplit(self.broker_url).hostname
        assert host is not None
        return host

    @property
    def port(self) -> int:
        return urlsplit(self.broker_url).port or (8883 if self.tls else 1883)
