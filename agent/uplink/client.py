"""The V3 upload API over HTTP(S) (CONTRACT.md §3): token, events, pre-signed file uploads.

Every failure becomes one of two exceptions the uplink acts on:

- :class:`RetryLaterError` — 429, 5xx, network errors, dropped connections, timeouts, a
  refused token, an expired upload URL: keep everything, back off (or wait ``retry_after``).
- :class:`RejectedError` — 400/413/422: this request's content is refused for good; the
  uplink narrows it down to the event at fault and dead-letters only that one.

The access token goes in ``Authorization`` raw (no ``Bearer``, as in the seed). It is fetched
lazily, refreshed shortly before ``expiresIn`` runs out, and on a 401 fetched anew once and the
call retried. Neither the token nor the client secret is ever logged or put in an error.

TLS: :func:`tls_context` builds the one ``ssl.SSLContext`` the pool uses (it reads CA files, so
the uplink calls it in a thread): the default store, or only ``cloud.ca_file`` when set. A
certificate the device does not trust is a :class:`RetryLaterError` like a network failure (the
data stays in the outbox) whose message says so plainly.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from agent.errors import UplinkError
from agent.store.api import StoredFile

log = logging.getLogger(__name__)


class _RedactUrlQuery(logging.Filter):
    """httpx logs every request URL at INFO; a pre-signed URL's query is a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                a.copy_with(query=None) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _RedactUrlQuery) for f in _httpx_log.filters):
    _httpx_log.addFilter(_RedactUrlQuery())

_REJECTED = frozenset({400, 413, 422})
_READ_CHUNK = 256 * 1024
MAX_FILES_PER_URL_REQUEST = 100


class RetryLaterError(UplinkError):
    """Transient: nothing is lost, try again later (after ``retry_after`` when the cloud says)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RejectedError(UplinkError):
    """The cloud refused this request's content (4xx other than 401/429)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def tls_context(verify_tls: bool, ca_file: Path | None) -> ssl.SSLContext | bool:
    """What the HTTP pool verifies the cloud's certificate against (blocking: reads files).

    ``ca_file`` set: that PEM bundle is the only trust anchor (a private CA or a self-signed
    cloud certificate; to keep public CAs too, put them in the same file). Unset: httpx's
    default store (certifi's Mozilla bundle). ``verify_tls`` false: no verification at all.
    Hostname checking stays on whenever verification is. Raises :class:`RetryLaterError` if
    ``ca_file`` cannot be loaded (the file may be provisioned later; data waits meanwhile).
    """
    if not verify_tls:
        return False
    if ca_file is None:
        return httpx.create_ssl_context(trust_env=False)
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise RetryLaterError(f"tls: cannot load cloud.ca_file {ca_file}: {exc}") from None


def describe_http_error(exc: httpx.HTTPError) -> str:
    """``Type: message``, naming a refused server certificate plainly (it is configuration)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate not trusted: {cause.verify_message} "
                "(check cloud.ca_file / the cloud's certificate)"
            )
        cause = cause.__cause__ or cause.__context__
    return f"{type(exc).__name__}: {exc}"


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("Error"), str):
            return str(body["Error"])[:300]
    except ValueError:
        pass
    return response.reason_phrase or "error"


def _check(response: httpx.Response, what: str) -> None:
    """Raise the uplink's exception for a non-2xx answer."""
    status = response.status_code
    if 200 <= status < 300:
        return
    text = f"{what}: HTTP {status} {_error_text(response)}"
    if status in _REJECTED:
        raise RejectedError(text, status)
    retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
    raise RetryLaterError(text, retry_after if status in (429, 503) else None)


class CloudClient:
    """One HTTP connection pool to the cloud plus the current access token."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout_s: float = 15.0,
        verify: ssl.SSLContext | bool = True,
        max_connections: int = 8,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._http = httpx.AsyncClient(
            timeout=timeout_s,
            verify=verify,  # an SSLContext from tls_context(): built once, off the loop
            trust_env=False,  # no proxy surprises from the environment: the config says where
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )
        self._token: str | None = None
        self._token_expires = 0.0  # monotonic
        self._token_lock = asyncio.Lock()
        self.token_refreshes = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- token ---------------------------------------------------------------------------------
    def token_valid_for(self) -> float:
        return max(0.0, self._token_expires - self._clock()) if self._token else 0.0

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token is not None and self._clock() < self._token_expires:
                return self._token
            self._token = None
            try:
                response = await self._http.post(
                    f"{self.base_url}/auth/token",
                    json={"clientId": self._client_id, "clientSecret": self._client_secret},
                )
            except httpx.HTTPError as exc:
                raise RetryLaterError(f"auth/token: {describe_http_error(exc)}") from None
            if response.status_code in (400, 401, 403):
                # Wrong credentials are a configuration problem: keep the data, keep trying.
                raise RetryLaterError(
                    f"auth/token: HTTP {response.status_code}: credentials refused"
                )
            _check(response, "auth/token")
            try:
                body = response.json()
                token = body["accessToken"]
                expires_in = float(body.get("expiresIn", 3600))
            except (ValueError, KeyError, TypeError):
                raise RetryLaterError("auth/token: malformed answer") from None
            if not isinstance(token, str) or not token:
                raise RetryLaterError("auth/token: malformed answer")
            # Refresh ahead of expiry: 10 % of the lifetime, at most 60 s, so no call is sent
            # with a token about to lapse in flight.
            margin = min(60.0, expires_in * 0.1)
            self._token = token
            self._token_expires = self._clock() + max(0.0, expires_in - margin)
            self.token_refreshes += 1
            return token

    def _drop_token(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def _authorised(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        """One call with the token; on 401 a new token is fetched once and the call repeated."""
        headers = dict(kwargs.pop("headers", {}))
        for attempt in (1, 2):
            token = await self._access_token()
            headers["Authorization"] = token
            try:
                response = await self._http.request(
                    method, f"{self.base_url}{path}", headers=headers, **kwargs
                )
            except httpx.HTTPError as exc:
                raise RetryLaterError(f"{what}: {describe_http_error(exc)}") from None
            if response.status_code == 401 and attempt == 1:
                log.info("%s: token refused (401), fetching a new one", what)
                self._drop_token(token)
                continue
            return response
        raise AssertionError("unreachable")

    # --- calls ---------------------------------------------------------------------------------
    async def post_events(self, body: bytes, *, gzipped: bool) -> list[dict[str, Any]]:
        """``POST /events``; returns the ``NotProcess`` items (empty when all accepted)."""
        headers = {"Content-Type": "application/json"}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        response = await self._authorised(
            "POST", "/events", "events", content=body, headers=headers
        )
        _check(response, "events")
        try:
            answer = response.json()
        except ValueError:
            raise RetryLaterError("events: answer is not JSON") from None
        not_process = answer.get("NotProcess") if isinstance(answer, dict) else None
        if not_process is None:
            return []
        if not isinstance(not_process, list):
            raise RetryLaterError("events: NotProcess is not a list")
        return [item for item in not_process if isinstance(item, dict)]

    async def upload_urls(self, files: Sequence[tuple[StoredFile, int]]) -> list[str]:
        """``POST /events/files/upload`` for (file, actual size) pairs; one ``uploadUrl`` each."""
        body = {
            "files": [
                {
                    "BucketName": f.bucket,
                    "FileName": f.key,
                    "ContentType": f.content_type,
                    "Size": size,
                }
                for f, size in files
            ]
        }
        response = await self._authorised("POST", "/events/files/upload", "files/upload", json=body)
        _check(response, "files/upload")
        try:
            items = response.json()["files"]
            urls = [str(item["uploadUrl"]) for item in items]
        except (ValueError, KeyError, TypeError):
            raise RetryLaterError("files/upload: malformed answer") from None
        if len(urls) != len(files):
            raise RetryLaterError("files/upload: answer does not match the request")
        return urls

    async def put_file(self, url: str, file: StoredFile, size: int) -> None:
        """``PUT`` the bytes to a pre-signed URL (no Authorization: the URL carries it)."""
        headers = {"Content-Type": file.content_type, "Content-Length": str(size)}
        try:
            response = await self._http.put(url, content=_read_chunks(file.path), headers=headers)
        except httpx.HTTPError as exc:
            # Not str(exc) in general: keep the pre-signed URL out (a cert failure is safe).
            what = describe_http_error(exc)
            if not what.startswith("TLS "):
                what = type(exc).__name__
            raise RetryLaterError(f"PUT {file.key}: {what}") from None
        if response.status_code == 403:  # expired or refused signature: ask for a new URL
            raise RetryLaterError(f"PUT {file.key}: HTTP 403 {_error_text(response)}")
        _check(response, f"PUT {file.key}")


async def _read_chunks(path: Path) -> AsyncIterator[bytes]:
    """The file in chunks read off the event loop (videos can be tens of MB)."""
    fh = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(fh.read, _READ_CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(fh.close)


def redact(value: str) -> str:
    """A URL or text without its query string (pre-signed signatures stay out of logs)."""
    return value.split("?", 1)[0]


__all__ = [
    "MAX_FILES_PER_URL_REQUEST",
    "CloudClient",
    "RejectedError",
    "RetryLaterError",
    "describe_http_error",
    "parse_retry_after",
    "redact",
    "tls_context",
]
