"""Access tokens and pre-signed file URLs, both HMAC-SHA256 with one key kept in the data dir.

Tokens are stateless (client id + expiry + MAC), so they stay valid across a cloud restart
on the same data dir, and expire on the wall clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEY_FILE = "signing.key"


def load_or_create_key(data_dir: Path) -> bytes:
    """The signing key of this data dir, created once (0600) and reused after restarts."""
    path = data_dir / KEY_FILE
    if path.exists():
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return key


def _utf8(text: str) -> bytes:
    # surrogatepass: a lone surrogate (JSON "\ud800") still becomes bytes that match nothing.
    return text.encode("utf-8", "surrogatepass")


def same_text(given: str, wanted: str) -> bool:
    """Constant-time equality of two strings, whatever characters ``given`` holds.

    ``hmac.compare_digest`` raises TypeError on non-ASCII ``str``; bytes are always accepted.
    """
    return hmac.compare_digest(_utf8(given), _utf8(wanted))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


@dataclass(frozen=True, slots=True)
class Signer:
    key: bytes

    def _mac(self, message: str) -> str:
        return hmac.new(self.key, _utf8(message), hashlib.sha256).hexdigest()

    # --- access tokens -------------------------------------------------------------------
    def issue_token(self, client_id: str, issued_at: float, expires_at: float) -> str:
        iat, exp = str(int(issued_at * 1000)), str(int(expires_at * 1000))  # epoch ms
        cid = _b64(client_id)
        return f"v1.{cid}.{iat}.{exp}.{self._mac(f'token|{cid}|{iat}|{exp}')}"

    def check_token(self, token: str, now: float, not_before: float = 0.0) -> str | None:
        """The client id of a valid token, unexpired and issued at or after ``not_before``."""
        parts = token.split(".")
        if len(parts) != 5 or parts[0] != "v1":
            return None
        _, cid, iat, exp, mac = parts
        if not same_text(mac, self._mac(f"token|{cid}|{iat}|{exp}")):
            return None
        try:
            if int(exp) <= now * 1000 or int(iat) < not_before * 1000:
                return None
            return _unb64(cid)
        except ValueError:
            return None

    # --- pre-signed object URLs ------------------------------------------------------------
    def object_signature(self, method: str, bucket: str, key: str, size: str, expires: int) -> str:
        return self._mac(f"object|{method}|{bucket}|{key}|{size}|{expires}")

    def check_object(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        size: str,
        expires: str,
        signature: str,
        now: float,
    ) -> str | None:
        """``None`` when the URL is valid, else why it is not."""
        try:
            exp = int(expires)
        except ValueError:
            return "bad expiry"
        want = self.object_signature(method, bucket, key, size, exp)
        if not same_text(signature, want):
            return "signature does not match"
        if exp < now:
            return "url expired"
        return None
