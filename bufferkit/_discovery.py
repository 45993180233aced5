"""Finding the server a ``Client`` talks to, and starting one in the background.

``Client()`` without arguments finds its server in this order:

1. the ``url`` (and ``token``) given to it;
2. the ``BUFFERKIT_URL`` and ``BUFFERKIT_TOKEN`` environment variables;
3. a running Jupyter server with the bufferkit extension, trying first the one this
   kernel belongs to (its process is the kernel's parent, or its runtime directory
   contains the kernel's connection file), then the others in the order
   ``jupyter_server.serverapp.list_running_servers()`` lists them;
4. a standalone server at ``http://127.0.0.1:14345/``;
5. a ``bufferkit serve`` process that it starts on a free loopback port, with a
   random token, and stops when the Python process exits.
"""

from __future__ import annotations

import atexit
import http.client
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from typing import IO, Any

from bufferkit.errors import BufferkitError, ServerUnavailableError
from bufferkit.transport import Transport

DEFAULT_URL = "http://127.0.0.1:14345/"
#: Seconds to wait for a candidate server's response during discovery.
PROBE_TIMEOUT = 2.0
#: Seconds to wait for a background ``bufferkit serve`` to report its address.
START_TIMEOUT = 30.0
_ADDRESS = re.compile(r"serving on (http://\S+?/)v1/ml/buffers")


def find_server(url: str | None, token: str | None) -> tuple[str, str | None]:
    """Return the URL and token of the server a ``Client`` should use.

    Examples
    --------
    >>> find_server("http://127.0.0.1:9999/", "secret")
    ('http://127.0.0.1:9999/', 'secret')
    """
    env_token = os.environ.get("BUFFERKIT_TOKEN") or None
    if url is not None:
        return url, token or env_token
    env_url = os.environ.get("BUFFERKIT_URL")
    if env_url:
        return env_url, token or env_token
    for server_url, server_token in _jupyter_servers():
        if _has_api(server_url, server_token):
            return server_url, server_token
    if _has_api(DEFAULT_URL, token or env_token):
        return DEFAULT_URL, token or env_token
    return _background_server()


def _has_api(url: str, token: str | None) -> bool:
    """Return whether a bufferkit API responds at ``url`` with ``token``."""
    try:
        transport = Transport(url, token, timeout=PROBE_TIMEOUT)
    except ValueError:
        return False
    try:
        reply = transport.request("GET", "v1/ml/buffers")
    except (OSError, ValueError, http.client.HTTPException, BufferkitError):
        return False
    finally:
        transport.close()
    return isinstance(reply, dict) and "buffers" in reply


def _jupyter_servers() -> list[tuple[str, str | None]]:
    """Running Jupyter servers as ``(url, token)``, this kernel's server first."""
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return []
    infos: list[dict[str, Any]] = []
    kernel_runtime_dir = _kernel_runtime_dir()
    if kernel_runtime_dir is not None:
        infos.extend(list_running_servers(kernel_runtime_dir))
    infos.extend(list_running_servers())
    parents = {os.getppid(), _int_or_none(os.environ.get("JPY_PARENT_PID"))}
    # sorted() is stable: the kernel's runtime directory and listing order remain.
    infos.sort(key=lambda info: info.get("pid") not in parents)
    servers: list[tuple[str, str | None]] = []
    for info in infos:
        server = (str(info.get("url", "")), info.get("token") or None)
        if server[0] and server not in servers:
            servers.append(server)
    return servers


def _kernel_runtime_dir() -> str | None:
    """Return the directory of this kernel's connection file, if in a kernel."""
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    if kernelapp is None or not kernelapp.IPKernelApp.initialized():
        return None
    connection_file = getattr(
        kernelapp.IPKernelApp.instance(), "abs_connection_file", None
    )
    return os.path.dirname(connection_file) if connection_file else None


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


class _BackgroundServer:
    """A ``bufferkit serve`` process started by the client, stopped at exit."""

    def __init__(self) -> None:
        self.token = secrets.token_urlsafe(24)
        command = [
            sys.executable,
            "-m",
            "bufferkit",
            "serve",
            "--port",
            "0",
            "--exit-with-stdin",
        ]
        # Its own session, so that interrupting a notebook kernel spares it. Its
        # standard input is a pipe that this process keeps open and never writes
        # to: when this process ends, however abruptly, the server reads the end
        # of input and stops.
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "BUFFERKIT_TOKEN": self.token},
            start_new_session=True,
        )
        assert self.process.stderr is not None
        self.url = self._wait_for_address(self.process.stderr)
        # Keep reading its log, so that a full pipe never blocks the server.
        threading.Thread(
            target=_drain, args=(self.process.stderr,), daemon=True
        ).start()
        atexit.register(self.stop)

    def _wait_for_address(self, stream: IO[bytes]) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = stream.readline().decode(errors="replace")
            if not line:
                break
            seen.append(line)
            match = _ADDRESS.search(line)
            if match:
                return match.group(1)
        self.stop()
        stream.close()
        msg = (
            "No bufferkit server found and 'bufferkit serve' could not start in "
            "the background: start one with `bufferkit serve` or set BUFFERKIT_URL "
            "to a running server's URL. Its output:\n" + "".join(seen)
        )
        raise ServerUnavailableError(msg)

    @property
    def running(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop the process, waiting for a clean exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()


def _drain(stream: IO[bytes]) -> None:
    with stream:
        while stream.read(65536):
            pass


_background: _BackgroundServer | None = None
_background_lock = threading.Lock()


def _background_server() -> tuple[str, str]:
    """Start a standalone server once per process and return its URL and token."""
    global _background
    with _background_lock:
        if _background is None or not _background.running:
            _background = _BackgroundServer()
        return _background.url, _background.token
