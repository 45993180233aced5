"""The Python client: find a server, manage buffers, read them as Polars DataFrames.

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
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any
from urllib.parse import quote, urlencode

import polars as pl

from bufferkit.errors import BufferkitError, InvalidRequestError
from bufferkit.transport import DEFAULT_TIMEOUT, Transport

DEFAULT_URL = "http://127.0.0.1:14345/"
#: Rows sent per request when appending a large DataFrame or list of rows.
APPEND_CHUNK_ROWS = 50_000
#: Seconds to wait for a candidate server's response during discovery.
PROBE_TIMEOUT = 2.0
#: Seconds to wait for a background ``bufferkit serve`` to report its address.
START_TIMEOUT = 30.0
_ADDRESS = re.compile(r"serving on (http://\S+?/)v1/ml/buffers")

Row = Mapping[str, float]


class Client:
    """A connection to a bufferkit server.

    Parameters
    ----------
    url
        Base URL of the server, such as ``http://127.0.0.1:14345/`` or a Jupyter
        server's URL with its base path; found automatically when omitted (see the
        module's description).
    token
        Token the server requires; defaults to ``BUFFERKIT_TOKEN``.
    timeout
        Seconds to wait for each response.

    Examples
    --------
    >>> import bufferkit
    >>> client = bufferkit.Client()
    >>> metrics = client.create("metrics", ["cpu", "memory"], lag_periods=[1])
    >>> metrics.append([{"cpu": 45.0, "memory": 62.5}, {"cpu": 47.5, "memory": 63.0}])
    {'rows_appended': 2, 'current_size': 2, 'rows_dropped': 0}
    >>> metrics.features()
    {'cpu_lag_1': 45.0, 'cpu_delta_1': 2.5, 'memory_lag_1': 62.5, 'memory_delta_1': 0.5}
    >>> [model["name"] for model in client.buffers()]
    ['metrics']
    >>> client.delete("metrics")
    {'deleted': 'metrics', 'memory_freed_bytes': 32}
    >>> client.buffer("metrics")
    Traceback (most recent call last):
    ...
    bufferkit.errors.BufferNotFoundError: Buffer 'metrics' not found
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        found_url, found_token = find_server(url, token)
        self._transport = Transport(found_url, found_token, timeout=timeout)

    @property
    def url(self) -> str:
        """Base URL of the server, ending in ``/``."""
        return self._transport.url

    def __repr__(self) -> str:
        return f"Client(url={self.url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; the next call opens a new one."""
        self._transport.close()

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """Send one API request relative to the base URL and return the reply."""
        return self._transport.request(method, path, body, **kwargs)

    def create(
        self,
        name: str,
        columns: Sequence[str],
        *,
        max_size: int = 10_000,
        rolling_windows: Sequence[int] = (),
        lag_periods: Sequence[int] = (),
    ) -> BufferHandle:
        """Create a buffer and return its handle.

        Raises ``BufferExistsError`` if the name is in use and
        ``InvalidRequestError`` if an argument is out of range.

        Examples
        --------
        >>> client = Client()
        >>> client.create("latency", ["p50", "p99"], max_size=100)
        BufferHandle('latency', columns=('p50', 'p99'))
        >>> client.create("latency", ["p50"])
        Traceback (most recent call last):
        ...
        bufferkit.errors.BufferExistsError: Buffer 'latency' already exists
        """
        body = {
            "name": name,
            "columns": list(columns),
            "max_size": max_size,
            "rolling_windows": list(rolling_windows),
            "lag_periods": list(lag_periods),
        }
        return BufferHandle(self, self.request("POST", "v1/ml/buffers", body))

    def buffer(self, name: str) -> BufferHandle:
        """Return the handle of an existing buffer; raise ``BufferNotFoundError``."""
        return BufferHandle(self, self.request("GET", _buffer_path(name)))

    def buffers(self) -> list[dict[str, Any]]:
        """Return the model of every buffer, in creation order.

        Examples
        --------
        >>> client = Client()
        >>> _ = client.create("cpu", ["value"])
        >>> [(model["name"], model["current_size"]) for model in client.buffers()]
        [('cpu', 0)]
        """
        reply: dict[str, Any] = self.request("GET", "v1/ml/buffers")
        buffers: list[dict[str, Any]] = reply["buffers"]
        return buffers

    def delete(self, name: str) -> dict[str, Any]:
        """Delete a buffer; return ``{deleted, memory_freed_bytes}``."""
        reply: dict[str, Any] = self.request("DELETE", _buffer_path(name))
        return reply


class BufferHandle:
    """One buffer on the server; every call is a request, nothing is cached.

    Examples
    --------
    >>> import polars as pl
    >>> sensors = Client().create("sensors", ["x", "y"], max_size=3)
    >>> sensors.append(pl.DataFrame({"x": [1, 2, 3, 4], "y": [0.5, 0.25, 0.0, 1.0]}))
    {'rows_appended': 4, 'current_size': 3, 'rows_dropped': 1}
    >>> sensors.to_polars()
    shape: (3, 2)
    ┌─────┬──────┐
    │ x   ┆ y    │
    │ --- ┆ ---  │
    │ f64 ┆ f64  │
    ╞═════╪══════╡
    │ 2.0 ┆ 0.25 │
    │ 3.0 ┆ 0.0  │
    │ 4.0 ┆ 1.0  │
    └─────┴──────┘
    >>> sensors.data(last=1).to_dicts()
    [{'x': 4.0, 'y': 1.0}]
    >>> sensors.info()["current_size"]
    3
    """

    def __init__(self, client: Client, model: Mapping[str, Any]) -> None:
        self._client = client
        self._name: str = model["name"]
        self._columns: tuple[str, ...] = tuple(model["columns"])

    @property
    def name(self) -> str:
        """The buffer's name."""
        return self._name

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names in schema order."""
        return self._columns

    def __repr__(self) -> str:
        return f"BufferHandle({self._name!r}, columns={self._columns!r})"

    def info(self) -> dict[str, Any]:
        """Return the buffer's model: sizes, columns, windows, memory, creation."""
        reply: dict[str, Any] = self._client.request("GET", _buffer_path(self._name))
        return reply

    def append(self, rows: Row | Sequence[Row] | pl.DataFrame) -> dict[str, int]:
        """Append one row, a list of rows or a DataFrame with the buffer's columns.

        Every request is stored whole or not at all. More than ``APPEND_CHUNK_ROWS``
        rows go in several requests; a DataFrame is checked before the first one
        (columns, numeric types, no nulls, finite values), so that a bad frame
        stores nothing. Returns ``{rows_appended, current_size, rows_dropped}``
        summed over the requests.
        """
        path = f"{_buffer_path(self._name)}/append"
        if isinstance(rows, pl.DataFrame):
            bodies: Iterator[dict[str, Any] | bytes] = _frame_bodies(
                rows, self._columns
            )
        elif isinstance(rows, Mapping):
            bodies = iter([{"data": [rows]}])
        else:
            bodies = _list_bodies(rows)
        total = {"rows_appended": 0, "current_size": 0, "rows_dropped": 0}
        for body in bodies:
            if isinstance(body, bytes):
                reply = self._client.request("POST", path, raw=body)
            else:
                reply = self._client.request("POST", path, body)
            total["rows_appended"] += reply["rows_appended"]
            total["rows_dropped"] += reply["rows_dropped"]
            total["current_size"] = reply["current_size"]
        return total

    def data(
        self, *, offset: int = 0, limit: int | None = None, last: int | None = None
    ) -> pl.DataFrame:
        """Return rows as float64 columns in schema order, oldest first.

        ``offset`` and ``limit`` page from the oldest row held; ``last`` returns the
        newest rows instead and cannot be combined with them.
        """
        query: dict[str, int] = {}
        if offset:
            query["offset"] = offset
        if limit is not None:
            query["limit"] = limit
        if last is not None:
            query["last"] = last
        path = f"{_buffer_path(self._name)}/data"
        if query:
            path += "?" + urlencode(query)
        reply = self._client.request("GET", path)
        schema = dict.fromkeys(reply["columns"], pl.Float64)
        if not reply["data"]:
            return pl.DataFrame(schema=schema)
        return pl.DataFrame(reply["data"], schema=schema, orient="row")

    def to_polars(self) -> pl.DataFrame:
        """Return every row held as a DataFrame of float64 columns."""
        return self.data()

    def features(self) -> dict[str, float | None]:
        """Return the newest row's rolling, lag and delta features by name.

        A feature is ``None`` while the buffer contains too few rows for it.
        """
        path = f"{_buffer_path(self._name)}/features"
        reply: dict[str, Any] = self._client.request("GET", path)
        features: dict[str, float | None] = reply["features"]
        return features


def _buffer_path(name: str) -> str:
    return f"v1/ml/buffers/{quote(name, safe='')}"


def _list_bodies(rows: Sequence[Row]) -> Iterator[dict[str, Any]]:
    if not rows:
        yield {"data": []}
    for start in range(0, len(rows), APPEND_CHUNK_ROWS):
        yield {"data": list(rows[start : start + APPEND_CHUNK_ROWS])}


def _frame_bodies(frame: pl.DataFrame, columns: tuple[str, ...]) -> Iterator[bytes]:
    """Check ``frame`` against the buffer's columns and encode it in chunks."""
    _check_frame(frame, columns)
    frame = frame.select(pl.col(name).cast(pl.Float64) for name in columns)
    if frame.height == 0:
        yield b'{"data":[]}'
    for start in range(0, frame.height, APPEND_CHUNK_ROWS):
        chunk = frame.slice(start, APPEND_CHUNK_ROWS)
        yield b'{"data":' + chunk.write_json().encode() + b"}"


def _check_frame(frame: pl.DataFrame, columns: tuple[str, ...]) -> None:
    if sorted(frame.columns) != sorted(columns):
        msg = (
            f"Schema mismatch: buffer expects columns {list(columns)}, "
            f"got {frame.columns}"
        )
        raise InvalidRequestError(msg)
    for name, dtype in frame.schema.items():
        if not dtype.is_numeric():
            msg = f"Column {name!r} has type {dtype}: cast it to a number type first"
            raise InvalidRequestError(msg)
    for name in columns:
        series = frame[name].cast(pl.Float64)
        if series.null_count() or not series.is_finite().all():
            msg = (
                f"Column {name!r} contains null, NaN or infinite values: "
                "drop or fill them before appending"
            )
            raise InvalidRequestError(msg)


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
    """The directory of this kernel's connection file, when running in a kernel."""
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
        command = [sys.executable, "-m", "bufferkit", "serve", "--port", "0"]
        # Its own session, so that interrupting a notebook kernel spares it.
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
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
        msg = "Could not start 'bufferkit serve' in the background:\n" + "".join(seen)
        raise ConnectionError(msg)

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
