"""Fixtures: real servers on loopback ports, and the ``api`` client of each host.

``api`` runs every test that uses it twice: against a ``bufferkit serve`` process
(``standalone``) and against a ``jupyter server`` process with the extension
(``jupyter``), behind a non-root base URL. A test that also requests one host's
fixture runs on that host only. Tests of behaviour that differs between the hosts
use the host's fixture: without a token the standalone server returns 401 and the
extension 403, as Jupyter's authentication does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.http import Api
from tests.servers import ServerProcess, start_jupyter, start_standalone

pytest_plugins = ["pytest_jupyter.jupyter_server"]

HOSTS = ("standalone", "jupyter")


@pytest.fixture(scope="session")
def standalone() -> Iterator[ServerProcess]:
    """One standalone server for the whole test session."""
    server = start_standalone()
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="session")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ``jupyter server`` with the extension for the whole test session."""
    server = start_jupyter(tmp_path_factory.mktemp("jupyter"))
    yield server
    server.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run tests using ``api`` on each host, or on the one host they also request."""
    if "api" not in metafunc.fixturenames:
        return
    hosts = [host for host in HOSTS if host in metafunc.fixturenames] or list(HOSTS)
    metafunc.parametrize("api", hosts, indirect=True)


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    """An HTTP client of one host; buffers are deleted after each test."""
    server: ServerProcess = request.getfixturevalue(request.param)
    client = Api(server.base_url, server.token)
    yield client
    for model in client.get("v1/ml/buffers").json["buffers"]:
        client.delete(f"v1/ml/buffers/{model['name']}")
