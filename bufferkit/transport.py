"""A small keep-alive HTTP/1.1 transport for talking to a bufferkit server.

It uses ``http.client`` directly: one persistent connection per transport, reopened
once when the server closed it, and error responses turned back into the
``BufferkitError`` classes the server raised. A server that cannot be reached, or
that closes the connection without answering, raises ``ServerUnavailableError``
naming the URL.
"""

from __future__ import annotations

import http.client
import threading
from typing import Any, Literal, overload
from urllib.parse import quote, urlsplit

import orjson

from bufferkit.errors import ERRORS_BY_CODE, BufferkitError, ServerUnavailableError

DEFAULT_TIMEOUT = 30.0


class Transport:
    """Send requests to one server over a persistent connection.

    Parameters
    ----------
    url
        Base URL of the server, such as ``http://127.0.0.1:14345/``; the API paths
        ``v1/ml/...`` are joined to it.
    token
        Sent as ``Authorization: token <token>`` when given.
    timeout
        Seconds to wait for the connection and for each response.
    """

    def __init__(
        self, url: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = f"Invalid server URL {url!r}: use http://HOST:PORT/"
            raise ValueError(msg)
        self.url = url if url.endswith("/") else url + "/"
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._base_path = parts.path.rstrip("/") + "/"
        self._timeout = timeout
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"token {token}"
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    @overload
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str | None = None,
        decode: Literal[True] = True,
        reply_headers: dict[str, str] | None = None,
    ) -> Any: ...

    @overload
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str | None = None,
        decode: Literal[False],
        reply_headers: dict[str, str] | None = None,
    ) -> bytes: ...

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str | None = None,
        decode: bool = True,
        reply_headers: dict[str, str] | None = None,
    ) -> Any:
        """Send ``method path`` with a JSON ``body`` and return the decoded reply.

        ``raw`` sends an already encoded body, JSON unless ``content_type`` names
        another type, such as ``application/vnd.apache.arrow.stream``. With
        ``decode=False`` the reply's bytes are returned as they came, for the
        Arrow, Parquet and CSV formats. ``reply_headers``, when given, receives
        the response's headers by lower-case name, of error responses too. Raises the
        ``BufferkitError`` subclass matching the server's error code (error bodies
        are JSON whatever was asked for), or ``ServerUnavailableError``, a
        ``ConnectionError``, when the server cannot be reached.
        """
        payload = raw
        if payload is None and body is not None:
            payload = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        headers = self._headers
        if content_type is not None:
            headers = {**headers, "Content-Type": content_type}
        status, data, received = self._send(
            method, self._base_path + path, payload, headers
        )
        if reply_headers is not None:
            reply_headers.update(received)
        if not decode and status < 400:
            return data
        try:
            decoded = orjson.loads(data) if data else None
        except orjson.JSONDecodeError:
            if status < 400:
                raise
            decoded = None
        if status >= 400:
            raise _error_from(status, decoded)
        return decoded

    def _send(
        self,
        method: str,
        path: str,
        payload: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            for attempt in (1, 2):
                reused = self._connection is not None
                connection = self._connection or self._connect()
                try:
                    response, data = _exchange(
                        connection, method, path, payload, headers
                    )
                except (
                    http.client.RemoteDisconnected,
                    BrokenPipeError,
                    ConnectionResetError,
                ) as error:
                    self.close()
                    # Only a kept-alive connection that the server closed while it
                    # was idle is retried, once, on a fresh connection.
                    if not reused or attempt == 2:
                        raise self._unavailable(error) from error
                    continue
                except ConnectionError as error:
                    self.close()
                    raise self._unavailable(error) from error
                except (OSError, http.client.HTTPException):
                    self.close()
                    raise
                if response.will_close:
                    self.close()
                headers = {
                    key.lower(): value for key, value in response.headers.items()
                }
                return response.status, data, headers
        raise AssertionError("unreachable")

    def _unavailable(self, error: Exception) -> ServerUnavailableError:
        reason = error.strerror if isinstance(error, OSError) else None
        reason = reason or str(error) or type(error).__name__
        msg = (
            f"Cannot reach the bufferkit server at {self.url} ({reason}): start one "
            "with `bufferkit serve` or set BUFFERKIT_URL to a running server's URL"
        )
        return ServerUnavailableError(msg)

    def _connect(self) -> http.client.HTTPConnection:
        connection_class = (
            http.client.HTTPSConnection
            if self._scheme == "https"
            else http.client.HTTPConnection
        )
        self._connection = connection_class(
            self._host, self._port, timeout=self._timeout
        )
        return self._connection

    def __del__(self) -> None:
        # A transport dropped without close() must not leave its socket open.
        if getattr(self, "_connection", None) is not None:
            self.close()

    def close(self) -> None:
        """Close the connection; the next request opens a new one."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _error_from(status: int, body: Any) -> BufferkitError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return BufferkitError(
            f"Server returned HTTP {status} without an error body", status=status
        )
    code = str(error.get("code", "internal_error"))
    message = str(error.get("message", ""))
    error_class = ERRORS_BY_CODE.get(code, BufferkitError)
    return error_class(message, status=status, code=code)


def _exchange(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    payload: bytes | None,
    headers: dict[str, str],
) -> tuple[http.client.HTTPResponse, bytes]:
    """Send one request and read its response.

    A server may answer before the body is sent in full, as it does with 413 for a
    body over its limit, and close the connection: the send then fails, and the
    answer is read from the connection if it arrived.
    """
    try:
        connection.request(method, path, body=payload, headers=headers)
    except (BrokenPipeError, ConnectionResetError) as error:
        try:
            response = connection.getresponse()
            return response, response.read()
        except (OSError, http.client.HTTPException):
            raise error from None
    response = connection.getresponse()
    return response, response.read()


def buffer_path(name: str) -> str:
    """Return the API path of the buffer ``name``, percent-encoded as one segment.

    Examples
    --------
    >>> buffer_path("a/b")
    'v1/ml/buffers/a%2Fb'
    >>> buffer_path("")
    Traceback (most recent call last):
    ...
    ValueError: Buffer name must be a non-empty string, got ''
    """
    if not isinstance(name, str) or not name:
        msg = f"Buffer name must be a non-empty string, got {name!r}"
        raise ValueError(msg)
    return f"v1/ml/buffers/{quote(name, safe='')}"
