"""The Python client: find a server, manage buffers, read them as Polars DataFrames."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from bufferkit._discovery import DEFAULT_URL, find_server
from bufferkit.append_request import APPEND_CHUNK_ROWS, Row
from bufferkit.handle import BufferHandle
from bufferkit.transport import DEFAULT_TIMEOUT, Transport, buffer_path

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
        server's URL with its base path; found automatically when omitted, as
        described below.
    token
        Token the server requires; defaults to ``BUFFERKIT_TOKEN``.
    timeout
        Seconds to wait for each response.

    Notes
    -----
    Without ``url`` the client takes the first server of this list:

    1. ``BUFFERKIT_URL``, with ``BUFFERKIT_TOKEN`` as its token, used as given;
    2. a running Jupyter server with the bufferkit extension, first the one this
       kernel belongs to, then the others that Jupyter lists;
    3. a standalone server at ``http://127.0.0.1:14345/``;
    4. a ``bufferkit serve`` that it starts on a free loopback port with a random
       token, once per Python process, and stops when that process exits.

    A server that cannot be reached raises ``ServerUnavailableError``, a
    ``ConnectionError`` that names the URL.

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

        ``columns`` is a list of names, ``rolling_windows`` and ``lag_periods``
        lists of row counts. Raises ``TypeError`` for a string or a single
        number in their place, ``BufferExistsError`` if the name is in use and
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
        >>> client.create("xy", "xy")
        Traceback (most recent call last):
        ...
        TypeError: columns must be a list of column names, not the string 'xy': \
write ["xy"] for one column
        """
        body = {
            "name": name,
            "columns": _listed("columns", columns, "column names"),
            "max_size": max_size,
            "rolling_windows": _listed("rolling_windows", rolling_windows, "integers"),
            "lag_periods": _listed("lag_periods", lag_periods, "integers"),
        }
        return BufferHandle(self, self.request("POST", "v1/ml/buffers", body))

    def buffer(self, name: str) -> BufferHandle:
        """Return the handle of an existing buffer; raise ``BufferNotFoundError``."""
        return BufferHandle(self, self.request("GET", buffer_path(name)))

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
        reply: dict[str, Any] = self.request("DELETE", buffer_path(name))
        return reply


def _listed(argument: str, value: object, items: str) -> list[Any]:
    """Return ``value`` as a list; raise ``TypeError`` for a string or a non-iterable.

    A string is a sequence, so ``list("xy")`` would quietly give ``["x", "y"]``.

    Examples
    --------
    >>> _listed("lag_periods", (1, 5), "integers")
    [1, 5]
    >>> _listed("lag_periods", 5, "integers")
    Traceback (most recent call last):
    ...
    TypeError: lag_periods must be a list of integers, not int 5: write [5]
    """
    if isinstance(value, str | bytes):
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if items == "column names":
            fix = f"write {json.dumps([text])} for one column"
        else:
            numbers = [
                int(part) for part in text.replace(",", " ").split() if part.isdigit()
            ]
            fix = f"write {numbers or [10]}"
        msg = f"{argument} must be a list of {items}, not the string {text!r}: {fix}"
        raise TypeError(msg)
    if not isinstance(value, Iterable):
        shown = f"{type(value).__name__} {value!r}"
        if isinstance(value, int):
            msg = f"{argument} must be a list of {items}, not {shown}: write [{value}]"
        else:
            msg = f"{argument} must be a list of {items}, not {shown}"
        raise TypeError(msg)
    return list(value)
