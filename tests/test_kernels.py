"""Kernels of one Jupyter server find its extension and share its buffers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient

from tests.http import Api
from tests.servers import ServerProcess

_TIMEOUT = 60


class Kernel:
    """A kernel the Jupyter server started, driven over its ZeroMQ channels."""

    def __init__(self, server: ServerProcess) -> None:
        self.api = Api(server.base_url, server.token)
        reply = self.api.post("api/kernels", {"name": "python3"})
        assert reply.status == 201, reply.body
        self.kernel_id = reply.json["id"]
        assert server.runtime_dir is not None
        connection_file = Path(server.runtime_dir) / f"kernel-{self.kernel_id}.json"
        deadline = time.monotonic() + _TIMEOUT
        while not connection_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.client = BlockingKernelClient()
        self.client.load_connection_file(str(connection_file))
        self.client.start_channels()
        self.client.wait_for_ready(timeout=_TIMEOUT)

    def run(self, code: str) -> str:
        """Execute ``code`` and return what it printed; fail on an error."""
        printed: list[str] = []

        def collect(message: dict[str, Any]) -> None:
            if message["msg_type"] == "stream":
                printed.append(message["content"]["text"])

        reply = self.client.execute_interactive(
            code, timeout=_TIMEOUT, output_hook=collect
        )
        content = reply["content"]
        assert content["status"] == "ok", "\n".join(content.get("traceback", []))
        return "".join(printed)

    def shutdown(self) -> None:
        """Stop the channels and ask the server to shut the kernel down."""
        self.client.stop_channels()
        self.api.delete(f"api/kernels/{self.kernel_id}")


@pytest.fixture
def kernels(jupyter: ServerProcess) -> Iterator[tuple[Kernel, Kernel]]:
    first, second = Kernel(jupyter), Kernel(jupyter)
    yield first, second
    first.shutdown()
    second.shutdown()
    Api(jupyter.base_url, jupyter.token).delete("v1/ml/buffers/shared_by_kernels")


def test_kernel_client_finds_extension(
    kernels: tuple[Kernel, Kernel], jupyter: ServerProcess
) -> None:
    first, _ = kernels

    printed = first.run(
        "import os, bufferkit\n"
        "os.environ.pop('BUFFERKIT_URL', None)\n"
        "os.environ.pop('BUFFERKIT_TOKEN', None)\n"
        "print(bufferkit.Client().url)"
    )

    assert printed.strip() == jupyter.base_url


def test_second_kernel_sees_buffers(
    kernels: tuple[Kernel, Kernel], jupyter: ServerProcess
) -> None:
    first, second = kernels
    forget_environment = (
        "import os, bufferkit\n"
        "os.environ.pop('BUFFERKIT_URL', None)\n"
        "os.environ.pop('BUFFERKIT_TOKEN', None)\n"
    )

    first.run(
        forget_environment + "client = bufferkit.Client()\n"
        "handle = client.create('shared_by_kernels', ['x'], lag_periods=[1])\n"
        "handle.append([{'x': 1.5}, {'x': 4.0}])"
    )
    printed = second.run(
        forget_environment + "import json\n"
        "handle = bufferkit.Client().buffer('shared_by_kernels')\n"
        "print(json.dumps([handle.data()['x'].to_list(), handle.features()]))"
    )

    rows, features = json.loads(printed)
    assert rows == [1.5, 4.0]
    assert features == {"x_lag_1": 1.5, "x_delta_1": 2.5}
    listed = Api(jupyter.base_url, jupyter.token).get("v1/ml/buffers").json
    assert "shared_by_kernels" in [model["name"] for model in listed["buffers"]]
