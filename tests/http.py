"""A plain HTTP client for tests: exact status, headers and bytes of each response."""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Response:
    """One HTTP response as the server sent it."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@dataclass
class Api:
    """Send requests to one server under its base URL, with its token if any.

    ``path`` arguments are relative to the base URL, such as ``"v1/ml/buffers"``.
    """

    base_url: str
    token: str | None = None
    _connection: http.client.HTTPConnection | None = field(default=None, repr=False)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: Mapping[str, str | None] | None = None,
        auth: bool = True,
    ) -> Response:
        """Send one request; ``body`` is encoded as JSON, ``raw`` is sent as is.

        A header given as ``None`` is not sent, ``Content-Type`` included.
        """
        parts = urlsplit(self.base_url)
        sent_headers: dict[str, str | None] = {"Content-Type": "application/json"}
        if self.token and auth:
            sent_headers["Authorization"] = f"token {self.token}"
        sent_headers.update(headers or {})
        payload = raw if raw is not None else None
        if body is not None:
            payload = json.dumps(body).encode()
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            connection.request(
                method,
                parts.path + path,
                body=payload,
                headers={
                    key: value
                    for key, value in sent_headers.items()
                    if value is not None
                },
            )
            response = connection.getresponse()
            return Response(
                response.status,
                {key.lower(): value for key, value in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    def get(self, path: str, **kwargs: Any) -> Response:
        """Send a GET request."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Response:
        """Send a POST request."""
        return self.request("POST", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        """Send a DELETE request."""
        return self.request("DELETE", path, **kwargs)

    def create(self, name: str, columns: list[str], **options: Any) -> Response:
        """Create a buffer and check that the server accepted it."""
        response = self.post(
            "v1/ml/buffers", {"name": name, "columns": columns, **options}
        )
        assert response.status == 201, response.body
        return response

    def append(self, name: str, rows: list[dict[str, Any]]) -> Response:
        """Append rows to a buffer."""
        return self.post(f"v1/ml/buffers/{name}/append", {"data": rows})

    def data(self, name: str, query: str = "") -> Response:
        """Read a buffer's rows with an optional query string."""
        return self.get(f"v1/ml/buffers/{name}/data{query}")
