"""Stopping ``bufferkit serve`` lets the requests in progress finish."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import signal
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import numpy as np
import polars as pl
import pytest

from tests.http import Api
from tests.servers import ServerProcess, start_standalone

BUFFERS = "v1/ml/buffers"
ROWS = 1_000_000
READERS = 4


def fill(api: Api, name: str, rows: int) -> None:
    """Create a buffer of four columns holding ``rows`` rows, sent as Arrow."""
    columns = ["a", "b", "c", "d"]
    assert api.post(BUFFERS, {"name": name, "columns": columns, "max_size": rows})
    values = np.arange(rows // 4, dtype=np.float64)
    sink = io.BytesIO()
    pl.DataFrame(dict.fromkeys(columns, values)).write_ipc_stream(sink)
    for _ in range(4):
        response = api.post(
            f"{BUFFERS}/{name}/append",
            raw=sink.getvalue(),
            headers={"Content-Type": "application/vnd.apache.arrow.stream"},
        )
        assert response.status == 200, response.body


@contextlib.contextmanager
def start_read(server: ServerProcess, path: str) -> Iterator[http.client.HTTPResponse]:
    """GET ``path`` and give the response once its headers have arrived.

    The body of a large read is far larger than the socket buffers, so the server
    is still sending it until the caller reads it.
    """
    parts = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("GET", parts.path + path)
        yield connection.getresponse()
    finally:
        connection.close()


def test_sigterm_lets_large_reads_finish() -> None:
    server = start_standalone()
    fill(Api(server.base_url), "big", ROWS)
    with contextlib.ExitStack() as stack:
        responses = [
            stack.enter_context(start_read(server, f"{BUFFERS}/big/data"))
            for _ in range(READERS)
        ]
        server.process.send_signal(signal.SIGTERM)
        # The server must wait for the readers, however slowly they read.
        time.sleep(1.0)
        bodies = [json.loads(response.read()) for response in responses]
    code = server.process.wait(timeout=30)
    server.stop()

    assert code == 0, server.log
    assert [response.status for response in responses] == [200] * READERS
    for body in bodies:
        assert body["returned_rows"] == ROWS
        assert len(body["data"]) == ROWS
        assert body["data"][-1] == dict.fromkeys("abcd", ROWS // 4 - 1)
    assert f"waiting up to 10s for {READERS} request(s) in progress" in server.log
    assert "still in progress" not in server.log
    assert "ERROR" not in server.log


def test_sigterm_refuses_new_connections() -> None:
    server = start_standalone()
    fill(Api(server.base_url), "big", ROWS)
    parts = urlsplit(server.base_url)
    with start_read(server, f"{BUFFERS}/big/data") as response:
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((parts.hostname, parts.port), timeout=5).close()
        body = json.loads(response.read())
    code = server.process.wait(timeout=30)
    server.stop()

    assert code == 0
    assert body["returned_rows"] == ROWS


def test_sigterm_cuts_off_after_the_timeout() -> None:
    server = start_standalone("--shutdown-timeout", "0.5")
    fill(Api(server.base_url), "big", ROWS)
    with start_read(server, f"{BUFFERS}/big/data") as response:
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=30)
        with pytest.raises(http.client.IncompleteRead):
            response.read()
    server.stop()

    assert code == 0
    assert "Closed 1 request(s) still in progress after 0.5s" in server.log
