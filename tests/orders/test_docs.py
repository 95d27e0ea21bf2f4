"""docs/orders.md lists every config key and every order type."""

from __future__ import annotations

from pathlib import Path

from agent.orders.keys import KEYS
from agent.orders.model import OrderType

DOC = (Path(__file__).resolve().parents[2] / "docs" / "orders.md").read_text()


def test_every_config_key_is_in_the_docs_table() -> None:
    missing = [k for k in KEYS if f"| `{k}` |" not in DOC]
    assert missing == []


def test_every_order_type_is_documented() -> None:
    missing = [t.value for t in OrderType if f"| `{t.value}` |" not in DOC]
    assert missing == []
