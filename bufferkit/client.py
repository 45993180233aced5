"""The Python client: find a server, manage buffers, read them as Polars DataFrames.

``Client()`` without arguments finds its server as ``bufferkit._discovery``
describes: the arguments, ``BUFFERKIT_URL``, a Jupyter server with the extension,
``http://127.0.0.1:14345/``, or else a ``bufferkit serve`` it starts itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bufferkit._discovery import DEFAULT_URL, find_server
from bufferkit.handle import APPEND_CHUNK_ROWS, BufferHandle, Row, _buffer_path
from bufferkit.transport import DEFAULT_TIMEOUT, Transport

__all__ = [
    "APPEND_CHUNK_ROWS",
    "DEFAULT_URL",
    "BufferHandle",
    "Client",
    "Row",
    "find_server",
]


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
