"""Doctest set-up: examples that create a ``Client()`` find a real server.

Such examples run with ``BUFFERKIT_URL`` and ``BUFFERKIT_TOKEN`` pointing at a
standalone server started for the session, the way a user points the client at
theirs. The buffers they create are deleted afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _pytest.doctest import DoctestItem

from bufferkit.transport import Transport
from tests.servers import ServerProcess, start_standalone


@pytest.fixture(scope="session")
def doctest_server() -> Iterator[ServerProcess]:
    """A standalone server with a token for the doctests of the client."""
    server = start_standalone(token="doctest-token")
    yield server
    assert server.stop() == 0


@pytest.fixture(autouse=True)
def _client_doctest_server(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    item = request.node
    if not isinstance(item, DoctestItem) or "Client(" not in str(item.dtest.docstring):
        yield
        return
    server: ServerProcess = request.getfixturevalue("doctest_server")
    monkeypatch.setenv("BUFFERKIT_URL", server.base_url)
    monkeypatch.setenv("BUFFERKIT_TOKEN", server.token or "")
    yield
    transport = Transport(server.base_url, server.token)
    for model in transport.request("GET", "v1/ml/buffers")["buffers"]:
        transport.request("DELETE", f"v1/ml/buffers/{model['name']}")
    transport.close()
