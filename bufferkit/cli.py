"""The ``bufferkit`` command: ``serve`` runs the server, ``collect`` feeds it."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import math
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from bufferkit import __version__
from bufferkit.app import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_SHUTDOWN_TIMEOUT,
    is_loopback,
    serve,
)
from bufferkit.collector import DEFAULT_BUFFER, DEFAULT_WINDOWS, collect
from bufferkit.config import NAME_PATTERN
from bufferkit.errors import BufferkitError, ServerUnavailableError
from bufferkit.handlers import DEFAULT_MAX_BODY_SIZE
from bufferkit.transport import Transport

log = logging.getLogger("bufferkit")


def _float_parser(*, allow_zero: bool, what: str) -> Callable[[str], float]:
    """Return an argparse type that accepts finite numbers above 0, or from 0 when
    ``allow_zero``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        in_range = 0 <= value < math.inf if allow_zero else 0 < value < math.inf
        if not in_range:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


def _integer_parser(low: int, high: int | None, what: str) -> Callable[[str], int]:
    """Return an argparse type that accepts integers from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


_positive_float = _float_parser(allow_zero=False, what="a positive number")
_non_negative_float = _float_parser(allow_zero=True, what="a non-negative number")


def _server_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = (
            "must be an http:// or https:// URL, such as http://HOST:PORT/, "
            f"got {text!r}"
        )
        raise argparse.ArgumentTypeError(msg)
    return text


def _buffer_name(text: str) -> str:
    if not NAME_PATTERN.fullmatch(text):
        msg = (
            "must be 1-128 characters of A-Z a-z 0-9 _ . - starting with a letter "
            f"or digit, got {text!r}"
        )
        raise argparse.ArgumentTypeError(msg)
    return text


_positive_int = _integer_parser(1, None, "a positive integer")
_non_negative_int = _integer_parser(0, None, "a non-negative integer")
_port = _integer_parser(0, 65535, "a TCP port from 0 to 65535")
#: A created metrics buffer must hold at least its largest rolling window.
_MIN_METRICS_SIZE = max(DEFAULT_WINDOWS)
_metrics_size = _integer_parser(
    _MIN_METRICS_SIZE,
    None,
    f"at least {_MIN_METRICS_SIZE}, the largest rolling window of the buffer",
)


#: One label of a host name (RFC 1123): letters, digits and inner hyphens.
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _listen_host(text: str) -> str:
    """Accept an IP address, a host name that resolves, or '' for every address.

    Names that are not valid host names are rejected without a DNS lookup. That
    includes names made only of digits and dots, which are invalid IPv4 addresses.
    """
    if text == "":
        return text
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        return text
    labels = text.removesuffix(".").split(".")
    if all(label.isdigit() for label in labels):
        raise argparse.ArgumentTypeError(f"invalid IP address: {text!r}")
    if len(text) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise argparse.ArgumentTypeError(f"invalid IP address or host name: {text!r}")
    try:
        socket.getaddrinfo(text, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise argparse.ArgumentTypeError(
            f"cannot resolve host name {text!r} ({error}): pass an IP address or "
            "a host name that resolves"
        ) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="bufferkit",
        description="Sliding-window buffers of numeric columns, served over HTTP.",
    )
    parser.add_argument(
        "--version", action="version", version=f"bufferkit {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_parser = commands.add_parser(
        "serve",
        help="run the standalone server",
        description="Run the standalone bufferkit server until Ctrl-C or SIGTERM.",
    )
    serve_parser.add_argument(
        "--host",
        type=_listen_host,
        default=DEFAULT_HOST,
        help="IP address or host name to listen on (default: %(default)s, local "
        "clients only)",
    )
    serve_parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help="TCP port to listen on, or 0 for a free one (default: %(default)s)",
    )
    serve_parser.add_argument(
        "--token",
        default=os.environ.get("BUFFERKIT_TOKEN") or None,
        help="require the header 'Authorization: token TOKEN' on every request "
        "(default: $BUFFERKIT_TOKEN if set, else no token)",
    )
    serve_parser.add_argument(
        "--max-body-size",
        type=_positive_int,
        default=DEFAULT_MAX_BODY_SIZE,
        help="largest request body accepted, in bytes; larger bodies get 413 "
        "(default: %(default)s, 64 MiB)",
    )
    serve_parser.add_argument(
        "--max-buffers",
        type=_non_negative_int,
        default=0,
        help="maximum number of buffers held at once; creating one more gets 409 "
        "'limit_exceeded' (default: %(default)s, no limit)",
    )
    serve_parser.add_argument(
        "--max-total-memory",
        type=_non_negative_int,
        default=0,
        metavar="BYTES",
        help="maximum bytes of values all buffers may hold together; each buffer "
        "reserves max_size x columns x 8 bytes when created, and a create past the "
        "limit gets 409 'limit_exceeded' (default: %(default)s, no limit)",
    )
    serve_parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="listen on an address other machines can reach without --token; "
        "anyone who can connect can then read and delete every buffer",
    )
    serve_parser.add_argument(
        "--log-level",
        type=str.upper,
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log messages of this level and above, case-insensitive "
        "(default: %(default)s)",
    )
    serve_parser.add_argument(
        "--shutdown-timeout",
        type=_non_negative_float,
        default=DEFAULT_SHUTDOWN_TIMEOUT,
        metavar="SECONDS",
        help="on Ctrl-C or SIGTERM, stop accepting connections and let requests in "
        "progress finish for up to this long before closing them "
        "(default: %(default)g)",
    )
    # Hidden: the client's background server stops when the client process dies.
    serve_parser.add_argument(
        "--exit-with-stdin", action="store_true", help=argparse.SUPPRESS
    )

    collect_parser = commands.add_parser(
        "collect",
        help="stream this machine's metrics into a buffer",
        description=(
            "Append this machine's CPU percent, memory percent, disk I/O and network "
            "rates (bytes per second) to a buffer on a running server, creating it "
            "with windows [10, 50, 200] and lags [1, 5, 10] if needed."
        ),
    )
    collect_parser.add_argument(
        "--url",
        type=_server_url,
        default=os.environ.get("BUFFERKIT_URL")
        or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/",
        help="base URL of the server (default: $BUFFERKIT_URL if set, else "
        f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/)",
    )
    collect_parser.add_argument(
        "--token",
        default=os.environ.get("BUFFERKIT_TOKEN") or None,
        help="token the server requires (default: $BUFFERKIT_TOKEN if set)",
    )
    collect_parser.add_argument(
        "--buffer",
        type=_buffer_name,
        default=DEFAULT_BUFFER,
        help="buffer to append to (default: %(default)s)",
    )
    collect_parser.add_argument(
        "--interval",
        type=_positive_float,
        default=1.0,
        help="seconds between rows (default: %(default)s)",
    )
    collect_parser.add_argument(
        "--count",
        type=_positive_int,
        default=None,
        help="stop after this many rows (default: run until Ctrl-C)",
    )
    collect_parser.add_argument(
        "--max-size",
        type=_metrics_size,
        default=10_000,
        help="rows the buffer keeps, if it has to be created; at least "
        f"{_MIN_METRICS_SIZE}, the largest rolling window (default: %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bufferkit`` command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        if not args.token and not args.allow_remote and not is_loopback(args.host):
            parser.error(
                f"cannot listen on {args.host!r} without a token: any machine "
                "that can connect could read and delete every buffer; pass --token "
                "TOKEN (or set BUFFERKIT_TOKEN), or --allow-remote to serve without one"
            )
        return _run_serve(args)
    return _run_collect(args)


def _run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.token and not is_loopback(args.host):
        log.warning(
            "Listening on %s without a token (--allow-remote): any machine that can "
            "connect can read, change and delete every buffer",
            args.host or "every address",
        )
    if args.exit_with_stdin:
        _stop_at_end_of_stdin()
    try:
        asyncio.run(
            serve(
                args.host,
                args.port,
                token=args.token,
                max_body_size=args.max_body_size,
                max_buffers=args.max_buffers or None,
                max_total_memory=args.max_total_memory or None,
                shutdown_timeout=args.shutdown_timeout,
            )
        )
    except OSError as error:
        log.error("Cannot listen on %s:%d: %s", args.host, args.port, error)
        return 1
    return 0


def _stop_at_end_of_stdin() -> None:
    """Send this process SIGTERM, a clean stop, once standard input is closed.

    The process that started the server keeps the other end of the pipe open, so
    the end of input means that it exited, even when it was killed with SIGKILL.
    """

    def watch() -> None:
        try:
            while os.read(0, 65536):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="bufferkit-stdin", daemon=True).start()


def _run_collect(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def show(row: dict[str, float], size: int) -> None:
        print(
            f"cpu={row['cpu']:.1f}% memory={row['memory']:.1f}% "
            f"disk_io={row['disk_io']:.0f}B/s network={row['network']:.0f}B/s "
            f"size={size}",
            flush=True,
        )

    transport = Transport(args.url, args.token)
    try:
        sent = collect(
            transport,
            name=args.buffer,
            interval=args.interval,
            count=args.count,
            max_size=args.max_size,
            stop=stop,
            on_row=show,
        )
    except KeyboardInterrupt:
        return 0
    except ServerUnavailableError as error:
        log.error("%s", error.message)
        return 1
    except OSError as error:
        log.error("Cannot reach the server at %s: %s", args.url, error)
        return 1
    except BufferkitError as error:
        log.error("Server rejected the request: %s", error.message)
        return 1
    finally:
        transport.close()
    log.info("Sent %d rows to buffer %r", sent, args.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
