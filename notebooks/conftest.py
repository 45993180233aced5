"""Run the example notebooks with nbval against a real ``bufferkit serve`` process.

nbval starts one kernel per notebook before the notebook's first cell runs, and the
kernel inherits this process's environment. So the server starts, and
``BUFFERKIT_URL`` and ``BUFFERKIT_TOKEN`` point at it, while pytest sets up each
notebook cell, which is before nbval starts a kernel. The client in the notebooks
finds the server through those variables, as a user's would. Buffers a notebook
leaves behind are deleted after it, and the server stops at the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bufferkit.transport import Transport
from tests.servers import ServerProcess, start_standalone

_TOKEN = "notebooks-token"
_server: ServerProcess | None = None


def _notebook_server() -> ServerProcess:
    global _server
    if _server is None:
        _server = start_standalone(token=_TOKEN)
    return _server


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Point the kernels that nbval starts for ``item`` at the notebook server."""
    if ".ipynb::" not in item.nodeid:
        yield
        return
    server = _notebook_server()
    saved = {
        name: os.environ.get(name) for name in ("BUFFERKIT_URL", "BUFFERKIT_TOKEN")
    }
    os.environ["BUFFERKIT_URL"] = server.base_url
    os.environ["BUFFERKIT_TOKEN"] = _TOKEN
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Delete the buffers a notebook left once its last cell has run."""
    if _server is None or ".ipynb::" not in item.nodeid:
        return
    if nextitem is not None and nextitem.path == item.path:
        return
    transport = Transport(_server.base_url, _TOKEN)
    try:
        for model in transport.request("GET", "v1/ml/buffers")["buffers"]:
            transport.request("DELETE", f"v1/ml/buffers/{model['name']}")
    finally:
        transport.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the notebook server."""
    global _server
    if _server is not None:
        _server.stop()
        _server = None
