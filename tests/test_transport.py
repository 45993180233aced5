"""The client's HTTP transport against real servers: early answers and retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bufferkit import Client, PayloadTooLargeError, ServerUnavailableError
from tests.servers import ServerProcess, start_standalone

_BODY_LIMIT = 100_000


@pytest.fixture(scope="module")
def small_server() -> Iterator[ServerProcess]:
    server = start_standalone("--max-body-size", str(_BODY_LIMIT))
    yield server
    server.stop()


def test_early_413_reaches_the_caller(small_server: ServerProcess) -> None:
    client = Client(small_server.base_url)
    columns = [f"c{index}" for index in range(50)]
    handle = client.create("wide", columns, max_size=100_000)
    rows = [dict.fromkeys(columns, float(row)) for row in range(20_000)]

    with pytest.raises(PayloadTooLargeError) as raised:
        handle.append(rows)

    assert raised.value.status == 413
    assert f"over the server's limit of {_BODY_LIMIT} bytes" in raised.value.message
    assert handle.info()["current_size"] == 0
    client.delete("wide")


def test_connection_after_413_is_reopened(small_server: ServerProcess) -> None:
    client = Client(small_server.base_url)
    handle = client.create("after", ["x"])

    with pytest.raises(PayloadTooLargeError):
        handle.append([{"x": float(row)} for row in range(20_000)])
    handle.append({"x": 1.0})

    assert handle.info()["current_size"] == 1
    client.delete("after")


def test_stopped_server_is_unavailable() -> None:
    server = start_standalone()
    client = Client(server.base_url)
    client.buffers()
    server.stop()

    with pytest.raises(ServerUnavailableError) as raised:
        client.buffers()

    assert server.base_url in raised.value.message
