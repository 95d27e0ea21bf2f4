"""Running the cloud: uvicorn on a socket bound here (so port 0 works), in a thread or not."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .app import CloudConfig, create_app
from .faults import TRANSPORT_EXT


class _TransportH11(H11Protocol):
    """uvicorn's h11 protocol, handing the connection's transport to the app (for ``drop``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope["extensions"] = {**(scope.get("extensions") or {}), TRANSPORT_EXT: self.transport}
            await inner(scope, receive, send)

        self.app = app


def bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listening socket says TCP; without it every answer waited ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(256)
    sock.set_inheritable(True)
    return sock


def scheme(config: CloudConfig) -> str:
    return "https" if config.tls_cert is not None else "http"


def make_server(
    config: CloudConfig, access_log: bool = False, graceful_s: int = 2
) -> uvicorn.Server:
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ValueError("TLS needs both a certificate and a key")
    uv_config = uvicorn.Config(
        create_app(config),
        # uvicorn builds the SSLContext and wraps the socket(s) handed to serve() with it.
        ssl_certfile=config.tls_cert,
        ssl_keyfile=config.tls_key,
        http=_TransportH11,
        lifespan="on",
        log_level="warning",
        access_log=access_log,
        timeout_graceful_shutdown=graceful_s,
    )
    return uvicorn.Server(uv_config)


class CloudServer:
    """The cloud in a background thread of this process, on a free loopback port (tests)."""

    def __init__(self, config: CloudConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self._sock = bind(host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        # Tests stop it often: do not wait long for in-flight (e.g. "slow") requests.
        self._server = make_server(config, graceful_s=1)
        self._thread = threading.Thread(target=self._run, name="standin-cloud", daemon=True)

    @property
    def url(self) -> str:
        return f"{scheme(self.config)}://{self.host}:{self.port}"

    @property
    def faults(self) -> Any:
        return self.config.faults

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self, timeout_s: float = 10.0) -> CloudServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("stand-in cloud did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> CloudServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
