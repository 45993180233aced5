"""Memory of deleted buffers goes back to the operating system."""

from __future__ import annotations

import json
import time

import numpy as np
import psutil
import pytest

from bufferkit import memory
from bufferkit.buffer import Buffer
from bufferkit.config import BufferConfig
from bufferkit.errors import BufferNotFoundError
from bufferkit.registry import Registry
from tests.http import Api
from tests.servers import start_standalone

BUFFERS = "v1/ml/buffers"
MIB = 1024 * 1024
#: How far above its starting RSS the server may stay once every buffer is gone.
RSS_MARGIN = 60 * MIB


def test_delete_frees_values_keeps_counts() -> None:
    registry = Registry()
    buffer = registry.create(BufferConfig("gone", ("x", "y"), max_size=1000))
    buffer.append_columns(np.ones((2, 600)))

    deleted = registry.delete("gone")

    assert deleted.allocated_bytes == 0
    assert deleted.current_size == 600
    assert deleted.memory_bytes == 600 * 2 * 8


@pytest.mark.parametrize(
    "call",
    [
        lambda buffer: buffer.read(),
        lambda buffer: buffer.features(),
        lambda buffer: buffer.feature_history(),
        lambda buffer: buffer.append_row((1.0,)),
    ],
)
def test_deleted_buffer_is_not_found(call: object) -> None:
    buffer = Buffer(BufferConfig("gone", ("x",), max_size=10))
    buffer.append_row((1.0,))
    buffer.close()

    with pytest.raises(BufferNotFoundError):
        call(buffer)  # type: ignore[operator]


def test_trim_waits_for_a_mebibyte(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    trimmer = memory._Trimmer(lambda pad: calls.append(pad) or 1)
    monkeypatch.setattr(memory, "_trimmer", trimmer)

    memory.release_memory(MIB // 2)
    time.sleep(0.2)
    small_calls = len(calls)
    memory.release_memory(MIB // 2)
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)

    assert small_calls == 0
    assert calls == [0]


def fill(api: Api, names: list[str], rows: int) -> None:
    """Create buffers of four columns and append ``rows`` rows to each.

    The batches go to each buffer in turn, as from producers running at once, so
    that the arrays of the buffers grow interleaved on the heap.
    """
    columns = ["a", "b", "c", "d"]
    for name in names:
        body = {"name": name, "columns": columns, "max_size": rows}
        assert api.post(BUFFERS, body).status == 201
    batch = 4000
    generator = np.random.default_rng(0)
    data = {column: generator.random(batch).round(3).tolist() for column in columns}
    body = json.dumps({"columns": data}).encode()
    for _ in range(rows // batch + 2):
        for name in names:
            assert api.post(f"{BUFFERS}/{name}/append", raw=body).status == 200


@pytest.mark.skipif(not memory.can_trim(), reason="needs glibc's malloc_trim")
def test_rss_returns_after_delete() -> None:
    server = start_standalone()
    process = psutil.Process(server.process.pid)
    api = Api(server.base_url)
    try:
        api.get(BUFFERS)
        start = process.memory_info().rss
        # Buffers of 20,000 rows grow arrays under 1 MiB each, which glibc keeps
        # on its heap once its mmap threshold has risen: 640 buffers hold 400 MiB.
        names = [f"b{index}" for index in range(640)]
        fill(api, names, 20_000)
        held = api.get(BUFFERS).json["total_memory_bytes"]
        filled = process.memory_info().rss
        for name in names:
            assert api.delete(f"{BUFFERS}/{name}").status == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            after = process.memory_info().rss
            if after < start + RSS_MARGIN:
                break
            time.sleep(0.2)
    finally:
        assert server.stop() == 0

    assert held >= 390 * MIB
    assert filled > start + 300 * MIB
    assert after < start + RSS_MARGIN, (start // MIB, filled // MIB, after // MIB)
