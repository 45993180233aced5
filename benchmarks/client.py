"""A keep-alive ``http.client`` connection that times each request."""

from __future__ import annotations

import http.client
import time
from types import TracebackType


class Connection:
    """One persistent HTTP/1.1 connection to ``127.0.0.1:port``."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self._headers = headers

    def request(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """Send one request and return its status and body."""
        self._connection.request(method, path, body=body, headers=self._headers)
        response = self._connection.getresponse()
        return response.status, response.read()

    def timed(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        expect: int = 200,
        content_type: str | None = None,
    ) -> float:
        """Send one request and return its round trip in seconds.

        ``content_type`` replaces the connection's ``Content-Type`` header. The clock
        covers sending the request and reading the whole response.
        """
        headers = self._headers
        if content_type is not None:
            headers = {**headers, "Content-Type": content_type}
        start = time.perf_counter()
        self._connection.request(method, path, body=body, headers=headers)
        response = self._connection.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - start
        if response.status != expect:
            msg = f"{method} {path}: status {response.status}: {payload[:300]!r}"
            raise RuntimeError(msg)
        return elapsed

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
