"""The client's argument checks, error classes and feature history paging."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import bufferkit
from bufferkit import append_request, errors
from bufferkit.client import BufferHandle, Client
from bufferkit.errors import (
    BufferkitError,
    InvalidRequestError,
    ServerUnavailableError,
)
from bufferkit.handle import MAX_HISTORY_ROWS_HEADER
from tests.servers import ServerProcess, start_standalone
from tests.test_client import clean_env, client

__all__ = ["clean_env", "client"]


def offline_client() -> Client:
    """A client of a port where nothing listens: any request would fail."""
    return Client("http://127.0.0.1:9/")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"columns": "xy"},
            "columns must be a list of column names, not the string 'xy': "
            'write ["xy"] for one column',
        ),
        (
            {"columns": ["x"], "rolling_windows": "10"},
            "rolling_windows must be a list of integers, not the string '10': "
            "write [10]",
        ),
        (
            {"columns": ["x"], "lag_periods": 5},
            "lag_periods must be a list of integers, not int 5: write [5]",
        ),
    ],
)
def test_create_rejects_strings_and_scalars(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError) as error:
        offline_client().create("s2", **arguments)

    assert str(error.value) == message


@pytest.mark.parametrize(
    ("value", "shown"),
    [(float("nan"), "nan"), (float("inf"), "inf"), (np.float32("-inf"), "-inf")],
)
def test_non_finite_row_values_are_named(
    client: Client, monkeypatch: pytest.MonkeyPatch, value: float, shown: str
) -> None:
    handle = client.create("finite", ["x", "y"])
    rows = [{"x": float(number), "y": 0.5} for number in range(10)]
    rows[7] = {"x": 1.0, "y": value}
    expected = (
        f"Column 'y' contains non-finite value: {shown} (row 7): values must be "
        "finite numbers"
    )

    with pytest.raises(InvalidRequestError) as one:
        handle.append({"x": value, "y": 1.0})
    with pytest.raises(InvalidRequestError) as listed:
        handle.append(rows)
    with pytest.raises(InvalidRequestError) as columns:
        handle.append({"x": [1.0] * 10, "y": [row["y"] for row in rows]})
    monkeypatch.setattr(append_request, "APPEND_CHUNK_ROWS", 4)
    with pytest.raises(InvalidRequestError) as chunked:
        handle.append(rows)

    assert one.value.message == (
        f"Column 'x' contains non-finite value: {shown} (row 0): values must be "
        "finite numbers"
    )
    assert listed.value.message == expected
    assert columns.value.message == expected
    assert chunked.value.message == expected
    assert handle.info()["current_size"] == 0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (None, "got NoneType"),
        (5, "got int"),
        ("x", "got str"),
        (iter([{"x": 1.0}]), "got list_iterator"),
        (pl.DataFrame({"x": [1.0]}).lazy(), "LazyFrame: call .collect() first"),
        (pl.Series("x", [1.0]), "Series ('x'): append() takes a dict"),
    ],
)
def test_append_rejects_other_types(rows: Any, message: str) -> None:
    handle = BufferHandle(offline_client(), {"name": "typed", "columns": ["x"]})

    with pytest.raises(TypeError, match="append") as error:
        handle.append(rows)

    assert message in str(error.value)
    if "LazyFrame" not in message:
        assert "a dict of lists (columns) or a Polars DataFrame" in str(error.value)


def test_append_rejects_dict_mixing_lists_and_numbers() -> None:
    handle = BufferHandle(offline_client(), {"name": "mixed", "columns": ["x", "y"]})

    with pytest.raises(TypeError) as error:
        handle.append({"x": [1.0, 2.0], "y": 3.0})

    assert str(error.value) == (
        "append() got a dict mixing lists and single values: column 'x' is a list "
        "and column 'y' a float; give every column a list of values, or every "
        "column one number for a single row"
    )


def test_append_dict_of_columns(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = client.create("columnar", ["x", "y"], max_size=20)

    first = handle.append({"y": [3, 4], "x": [1, 2]})
    second = handle.append(
        {"x": np.array([5.0, 6.0]), "y": pl.Series([7, 8], dtype=pl.Int16)}
    )
    monkeypatch.setattr(append_request, "APPEND_CHUNK_ROWS", 4)
    chunked = handle.append({"x": tuple(range(10)), "y": [0.5] * 10})
    with pytest.raises(InvalidRequestError, match=r"'late' \(row 9\)"):
        handle.append({"x": [*range(9), "late"], "y": [0.5] * 10})
    with pytest.raises(InvalidRequestError) as unequal:
        handle.append({"x": [1.0, 2.0], "y": [1.0]})

    assert first == {"rows_appended": 2, "current_size": 2, "rows_dropped": 0}
    assert second == {"rows_appended": 2, "current_size": 4, "rows_dropped": 0}
    assert chunked == {"rows_appended": 10, "current_size": 14, "rows_dropped": 0}
    assert unequal.value.status == 400
    expected = pl.DataFrame(
        {
            "x": [1.0, 2.0, 5.0, 6.0, *map(float, range(10))],
            "y": [3.0, 4.0, 7.0, 8.0, *[0.5] * 10],
        }
    )
    assert_frame_equal(handle.to_polars(), expected)


UNAVAILABLE = "start one with `bufferkit serve` or set BUFFERKIT_URL"


def test_unreachable_url_names_it_and_the_fix() -> None:
    with offline_client() as client, pytest.raises(ServerUnavailableError) as error:
        client.buffers()

    assert isinstance(error.value, BufferkitError)
    assert isinstance(error.value, ConnectionError)
    assert (error.value.status, error.value.code) == (0, "server_unavailable")
    assert "Cannot reach the bufferkit server at http://127.0.0.1:9/" in str(
        error.value
    )
    assert UNAVAILABLE in error.value.message


def test_dead_environment_url(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUFFERKIT_URL", "http://127.0.0.1:9/")

    with Client() as client, pytest.raises(ServerUnavailableError, match=UNAVAILABLE):
        client.create("any", ["x"])


def test_server_that_stops_mid_session() -> None:
    server = start_standalone()
    client = Client(server.base_url, server.token)
    try:
        handle = client.create("brief", ["x"])
        handle.append({"x": 1.0})
    finally:
        server.stop()

    with pytest.raises(ServerUnavailableError) as error:
        handle.append({"x": 2.0})
    client.close()

    assert server.base_url in error.value.message


def test_every_error_class_is_exported() -> None:
    classes = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, BufferkitError)
    }

    assert classes <= set(bufferkit.__all__)
    assert all(getattr(bufferkit, name) is getattr(errors, name) for name in classes)


class CappedHistory:
    """A loopback proxy that limits feature history reads to ``max_rows`` rows.

    It passes every request to ``upstream``; a history request that would return
    more rows gets 400, and every history response carries the limit in
    ``MAX_HISTORY_ROWS_HEADER``. ``history_queries`` records the queries seen.
    """

    def __init__(self, upstream: ServerProcess, max_rows: int) -> None:
        self.max_rows = max_rows
        self.history_queries: list[dict[str, list[str]]] = []
        target = urlsplit(upstream.base_url)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                history = parts.path.endswith("/features/history")
                query = parse_qs(parts.query)
                if history:
                    proxy.history_queries.append(query)
                status, headers, body = proxy.forward(target, "GET", self.path)
                if history and status == 200 and proxy.too_many(query, parts.path):
                    status, body = (
                        400,
                        orjson.dumps(
                            {
                                "error": {
                                    "code": "invalid_request",
                                    "message": f"At most {max_rows} rows per request",
                                }
                            }
                        ),
                    )
                    headers = {"Content-Type": "application/json"}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if history:
                    self.send_header(MAX_HISTORY_ROWS_HEADER, str(max_rows))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.token = upstream.token
        self.target = target
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def forward(
        self, target: Any, method: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(target.hostname, target.port)
        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        try:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        kept = {
            name: value
            for name, value in response.headers.items()
            if name.lower() in ("content-type", "content-disposition")
        }
        return response.status, kept, body

    def too_many(self, query: dict[str, list[str]], path: str) -> bool:
        if "limit" in query:
            return int(query["limit"][0]) > self.max_rows
        if "last" in query:
            return int(query["last"][0]) > self.max_rows
        info_path = path.removesuffix("/features/history")
        _, _, body = self.forward(self.target, "GET", info_path)
        offset = int(query.get("offset", ["0"])[0])
        return int(orjson.loads(body)["current_size"]) - offset > self.max_rows

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def capped(standalone: ServerProcess) -> Iterator[CappedHistory]:
    proxy = CappedHistory(standalone, max_rows=40)
    yield proxy
    proxy.close()


def test_feature_history_pages_within_the_server_limit(
    standalone: ServerProcess, capped: CappedHistory
) -> None:
    direct = Client(standalone.base_url, standalone.token)
    handle = direct.create("paged", ["x", "y"], max_size=150, rolling_windows=[3])
    handle.append({"x": [float(i) for i in range(130)], "y": [0.5] * 130})
    try:
        with Client(capped.url, capped.token) as client:
            through = client.buffer("paged")
            whole = through.feature_history()
            learned = len(capped.history_queries)
            again = through.feature_history()
            from_offset = through.feature_history(offset=95)
            with pytest.raises(InvalidRequestError, match="At most 40 rows"):
                through.feature_history(limit=41)
    finally:
        direct.delete("paged")
        direct.close()

    assert whole.height == 130
    assert_frame_equal(again, whole)
    assert_frame_equal(from_offset, whole.slice(95))
    # One refused request, then four pages of at most 40 rows; later calls
    # page at once.
    assert learned == 5
    assert [query.get("limit") for query in capped.history_queries[1:5]] == [["40"]] * 4
    assert len(capped.history_queries) == 5 + 4 + 1 + 1


def test_feature_history_paged_equals_one_request(
    standalone: ServerProcess, capped: CappedHistory
) -> None:
    with Client(standalone.base_url, standalone.token) as direct:
        handle = direct.create(
            "compare", ["x"], max_size=100, rolling_windows=[5], lag_periods=[2]
        )
        handle.append({"x": [float(i * i % 17) for i in range(100)]})
        one_request = handle.feature_history()
        with Client(capped.url, capped.token) as client:
            paged = client.buffer("compare").feature_history()
        direct.delete("compare")

    assert_frame_equal(paged, one_request)
