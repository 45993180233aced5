"""Fixtures: a real ``bufferkit serve`` process on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.http import Api
from tests.servers import ServerProcess, start_standalone


@pytest.fixture(scope="session")
def standalone() -> Iterator[ServerProcess]:
    """One standalone server for the whole test session."""
    server = start_standalone()
    yield server
    assert server.stop() == 0


@pytest.fixture
def api(standalone: ServerProcess) -> Iterator[Api]:
    """An HTTP client of the standalone server; buffers are deleted after each test."""
    client = Api(standalone.base_url, standalone.token)
    yield client
    for model in client.get("v1/ml/buffers").json["buffers"]:
        client.delete(f"v1/ml/buffers/{model['name']}")
