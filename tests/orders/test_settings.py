"""The [orders] settings: bounded, secrets hidden, URL and TLS pairs checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.orders.settings import OrdersSettings


def test_defaults_are_off_and_plain_mqtt() -> None:
    s = OrdersSettings()
    assert not s.enabled
    assert (s.host, s.port, s.tls) == ("127.0.0.1", 1883, False)
    assert OrdersSettings(broker_url="mqtts://broker.example").port == 8883


@pytest.mark.parametrize("url", ["http://x", "mqtt://", "mqtt://u:p@host", "mqtt://h/path"])
def test_bad_broker_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        OrdersSettings(broker_url=url)


def test_engine_stop_speed_cannot_be_raised_above_5_kmh() -> None:
    with pytest.raises(ValidationError):
        OrdersSettings(relay_max_speed_kmh=6)


def test_client_cert_needs_its_key_and_password_is_hidden() -> None:
    with pytest.raises(ValidationError, match="go together"):
        OrdersSettings(cert_file="/x.crt")
    s = OrdersSettings(username="u", password="hunter22")
    assert "hunter22" not in repr(s)
    with pytest.raises(ValidationError):
        OrdersSettings(unknown=1)
