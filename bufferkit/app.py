"""The standalone server: the API handlers in a Tornado application of their own."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
from typing import Any

from tornado import httputil, web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from bufferkit.handlers import DEFAULT_MAX_BODY_SIZE, NotFoundHandler, api_handlers
from bufferkit.registry import Registry

log = logging.getLogger("bufferkit")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 14345
#: Tornado's own body limit, above the API's, so the API answers 413 in JSON first.
_TRANSPORT_BODY_LIMIT = 2**62
#: Seconds a stopping server lets requests in progress finish.
DEFAULT_SHUTDOWN_TIMEOUT = 10.0
_DRAIN_POLL_SECONDS = 0.05


def make_app(
    registry: Registry | None = None,
    *,
    token: str | None = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    max_buffers: int | None = None,
    max_total_memory: int | None = None,
) -> web.Application:
    """Build the standalone Tornado application around ``registry``.

    Without ``registry``, a new one holding at most ``max_buffers`` buffers and
    ``max_total_memory`` bytes of values (``None`` for no limit) is created.

    Examples
    --------
    >>> app = make_app(Registry(), token="secret")
    >>> app.settings["bufferkit_max_body_size"]
    67108864
    """
    return web.Application(
        api_handlers("/"),
        default_handler_class=NotFoundHandler,
        bufferkit_registry=(
            registry
            if registry is not None
            else Registry(max_buffers=max_buffers, max_total_memory=max_total_memory)
        ),
        bufferkit_token=token,
        bufferkit_max_body_size=max_body_size,
        log_function=_log_request,
    )


def _log_request(handler: web.RequestHandler) -> None:
    """Log failed requests; successful ones only at debug level."""
    status = handler.get_status()
    level = logging.DEBUG if status < 400 else logging.WARNING
    if status >= 500:
        level = logging.ERROR
    log.log(
        level,
        "%d %s %s %.2fms",
        status,
        handler.request.method,
        handler.request.path,
        1000.0 * handler.request.request_time(),
    )


def is_loopback(host: str) -> bool:
    """Return whether ``host`` only accepts connections from this machine.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback(""), is_loopback("example.org")
    (False, False, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _TrackedConnection:
    """A request's connection that notes when the response has been finished."""

    def __init__(self, connection: httputil.HTTPConnection) -> None:
        self.connection = connection
        self.finished = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)

    def finish(self) -> None:
        self.connection.finish()
        self.finished = True


class _TrackedRequest(httputil.HTTPMessageDelegate):
    """Count a request as in progress from its headers to its last byte sent."""

    def __init__(
        self, server: DrainingHTTPServer, delegate: httputil.HTTPMessageDelegate
    ) -> None:
        self.server = server
        self.delegate = delegate
        self.connection: _TrackedConnection | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Any:
        if self.connection is not None:
            self.server.in_progress.add(self.connection)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        if self.connection is not None:
            self.server.in_progress.discard(self.connection)
        self.delegate.on_connection_close()


class DrainingHTTPServer(HTTPServer):
    """An HTTP server that can wait for the requests in progress before closing.

    A request is in progress from its headers until its response has been
    finished and written to the socket, or its connection has closed.
    """

    in_progress: set[_TrackedConnection]

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.in_progress = set()

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        tracked = _TrackedConnection(request_conn)
        delegate = super().start_request(server_conn, tracked)  # type: ignore[arg-type]
        request = _TrackedRequest(self, delegate)
        request.connection = tracked
        return request

    def busy(self) -> int:
        """Return the number of requests in progress."""
        for connection in list(self.in_progress):
            stream = getattr(connection.connection, "stream", None)
            written = stream is None or stream.closed() or not stream.writing()
            if connection.finished and written:
                self.in_progress.discard(connection)
        return len(self.in_progress)

    async def drain(self, timeout: float) -> int:
        """Stop listening, wait up to ``timeout`` seconds for the requests in
        progress, then close every connection; return how many were cut off."""
        self.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.busy() and loop.time() < deadline:
            await asyncio.sleep(_DRAIN_POLL_SECONDS)
        cut_off = self.busy()
        await self.close_all_connections()
        return cut_off


def start_server(
    app: web.Application, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> tuple[DrainingHTTPServer, int]:
    """Listen on ``host:port`` with ``app`` and return the server and its port.

    Port 0 picks a free port.
    """
    sockets = bind_sockets(port, address=host)
    server = DrainingHTTPServer(
        app, max_body_size=_TRANSPORT_BODY_LIMIT, idle_connection_timeout=300
    )
    server.add_sockets(sockets)
    return server, int(sockets[0].getsockname()[1])


async def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    token: str | None = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    max_buffers: int | None = None,
    max_total_memory: int | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
) -> None:
    """Run the standalone server until SIGINT or SIGTERM, then stop cleanly.

    Stopping closes the listening sockets at once, lets the requests in progress
    finish for up to ``shutdown_timeout`` seconds, then closes every connection.
    """
    app = make_app(
        token=token,
        max_body_size=max_body_size,
        max_buffers=max_buffers,
        max_total_memory=max_total_memory,
    )
    server, bound_port = start_server(app, host, port)
    # Handle the signals before announcing the address: whoever waits for that
    # line may stop the server right after reading it.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    display_host = f"[{host}]" if ":" in host else host
    log.info(
        "bufferkit serving on http://%s:%d/v1/ml/buffers%s",
        display_host,
        bound_port,
        " (token required)" if token else "",
    )
    await stop.wait()
    busy = server.busy()
    log.info(
        "bufferkit stopping%s",
        f": waiting up to {shutdown_timeout:g}s for {busy} request(s) in progress"
        if busy
        else "",
    )
    cut_off = await server.drain(shutdown_timeout)
    if cut_off:
        log.warning(
            "Closed %d request(s) still in progress after %gs",
            cut_off,
            shutdown_timeout,
        )
    log.info("bufferkit stopped")
