"""The standalone server: the API handlers in a Tornado application of their own."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from bufferkit.handlers import DEFAULT_MAX_BODY_SIZE, NotFoundHandler, api_handlers
from bufferkit.registry import Registry

log = logging.getLogger("bufferkit")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 14345
#: Tornado's own body limit, above the API's, so the API answers 413 in JSON first.
_TRANSPORT_BODY_LIMIT = 2**62


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


def start_server(
    app: web.Application, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> tuple[HTTPServer, int]:
    """Listen on ``host:port`` with ``app`` and return the server and its port.

    Port 0 picks a free port.
    """
    sockets = bind_sockets(port, address=host)
    server = HTTPServer(
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
) -> None:
    """Run the standalone server until SIGINT or SIGTERM, then stop cleanly."""
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
    log.info("bufferkit stopping")
    server.stop()
    await server.close_all_connections()
    log.info("bufferkit stopped")
