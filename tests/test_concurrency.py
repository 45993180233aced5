"""Many clients at once against a real standalone server on loopback.

Each test runs a bounded number of requests from a pool of threads, every thread
with its own connections, and checks the server's state afterwards.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier, Event
from typing import TypeVar

import pytest

from tests.http import Api
from tests.servers import ServerProcess

BUFFERS = "v1/ml/buffers"
CLIENTS = 8
T = TypeVar("T")


@pytest.fixture
def server_api(standalone: ServerProcess) -> Iterator[Api]:
    """A client of the session's standalone server; buffers are deleted after."""
    client = Api(standalone.base_url, standalone.token)
    yield client
    for model in client.get(BUFFERS).json["buffers"]:
        client.delete(f"{BUFFERS}/{model['name']}")


def run_together(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(index)`` for ``count`` indexes on ``CLIENTS`` threads at once."""
    start = Barrier(min(count, CLIENTS))

    def started(index: int) -> T:
        if index < CLIENTS:
            start.wait(timeout=30)
        return work(index)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(started, range(count)))


def test_concurrent_appends_lose_and_duplicate_nothing(server_api: Api) -> None:
    batches, rows_per_batch = 200, 25
    server_api.create("shared", ["id", "client"], max_size=batches * rows_per_batch)

    def append(batch: int) -> int:
        rows = [
            {"id": batch * rows_per_batch + row, "client": batch % CLIENTS}
            for row in range(rows_per_batch)
        ]
        return server_api.append("shared", rows).status

    statuses = run_together(batches, append)

    assert set(statuses) == {200}
    data = server_api.data("shared").json
    ids = [row["id"] for row in data["data"]]
    assert data["current_size"] == batches * rows_per_batch
    assert sorted(ids) == [float(number) for number in range(batches * rows_per_batch)]


def test_concurrent_large_batches_intact(
    server_api: Api,
) -> None:
    # Bodies over 256 KiB are decoded on worker threads, side by side.
    batches, rows_per_batch = 16, 25_000
    server_api.create("large", ["id"], max_size=batches * rows_per_batch)

    def append(batch: int) -> int:
        first = batch * rows_per_batch
        body = {"columns": {"id": list(range(first, first + rows_per_batch))}}
        if batch % 2:
            body = {"data": [{"id": number} for number in body["columns"]["id"]]}
        return server_api.post(f"{BUFFERS}/large/append", body).status

    statuses = run_together(batches, append)

    assert set(statuses) == {200}
    ids = server_api.data("large", "?format=columns").json["data"]["id"]
    assert sorted(ids) == [float(number) for number in range(batches * rows_per_batch)]


def test_concurrent_rows_keep_client_order(server_api: Api) -> None:
    per_client = 60
    server_api.create("ordered", ["client", "step"], max_size=CLIENTS * per_client)

    def append_rows(client: int) -> list[int]:
        return [
            server_api.append("ordered", [{"client": client, "step": step}]).status
            for step in range(per_client)
        ]

    results = run_together(CLIENTS, append_rows)

    assert all(set(statuses) == {200} for statuses in results)
    rows = server_api.data("ordered").json["data"]
    for client in range(CLIENTS):
        steps = [row["step"] for row in rows if row["client"] == client]
        assert steps == [float(step) for step in range(per_client)]


def test_concurrent_create_one_winner(server_api: Api) -> None:
    attempts = 24

    def create(_: int) -> int:
        body = {"name": "contested", "columns": ["x"]}
        return server_api.post(BUFFERS, body).status

    statuses = Counter(run_together(attempts, create))

    assert statuses == {201: 1, 409: attempts - 1}
    assert [model["name"] for model in server_api.get(BUFFERS).json["buffers"]] == [
        "contested"
    ]


def test_delete_during_appends_leaves_no_orphan(server_api: Api) -> None:
    server_api.create("doomed", ["id"], max_size=100_000)
    deleted = Event()

    def work(index: int) -> tuple[str, int, bool]:
        if index == 40:
            response = server_api.delete(f"{BUFFERS}/doomed")
            deleted.set()
            return "delete", response.status, True
        after_delete = deleted.is_set()
        response = server_api.append(
            "doomed", [{"id": index * 10 + row} for row in range(10)]
        )
        return "append", response.status, after_delete

    results = run_together(120, work)

    assert [status for kind, status, _ in results if kind == "delete"] == [200]
    appends = [(status, after) for kind, status, after in results if kind == "append"]
    assert {status for status, _ in appends} <= {200, 404}
    assert all(status == 404 for status, after in appends if after)
    assert server_api.get(f"{BUFFERS}/doomed").status == 404
    assert server_api.append("doomed", [{"id": 1}]).status == 404
    assert server_api.get(BUFFERS).json == {
        "buffers": [],
        "total_buffers": 0,
        "total_memory_bytes": 0,
        "reserved_memory_bytes": 0,
        "max_total_memory": None,
    }


def test_delete_reports_every_stored_row(server_api: Api) -> None:
    server_api.create("counted", ["id"], max_size=100_000)

    def work(index: int) -> tuple[str, int]:
        if index == 60:
            response = server_api.delete(f"{BUFFERS}/counted")
            return "freed", response.json["memory_freed_bytes"]
        response = server_api.append("counted", [{"id": index}] * 5)
        return "stored", 5 if response.status == 200 else 0

    results = run_together(120, work)

    [freed] = [value for kind, value in results if kind == "freed"]
    stored_rows = sum(value for kind, value in results if kind == "stored")
    assert freed == stored_rows * 8


def test_reads_never_see_half_a_batch(server_api: Api) -> None:
    batch_sizes = [3, 7, 11, 17]
    max_size = 200
    server_api.create("batched", ["marker", "size"], max_size=max_size)
    done = Event()

    def write(writer: int) -> int:
        for batch in range(60):
            marker = writer * 1000 + batch
            size = batch_sizes[batch % len(batch_sizes)]
            rows = [{"marker": marker, "size": size}] * size
            assert server_api.append("batched", rows).status == 200
        return 0

    def read(_: int) -> int:
        checked = 0
        while not done.is_set() or checked == 0:
            rows = server_api.data("batched").json["data"]
            checked += 1
            counts = Counter(row["marker"] for row in rows)
            sizes = {row["marker"]: int(row["size"]) for row in rows}
            oldest = rows[0]["marker"] if rows else None
            for marker, count in counts.items():
                # Only the oldest batch may have lost rows to eviction.
                if marker != oldest:
                    assert count == sizes[marker], (marker, count, sizes[marker])
            # A batch's rows are contiguous, newest batches last.
            markers = [row["marker"] for row in rows]
            runs = [
                marker
                for index, marker in enumerate(markers)
                if index == 0 or marker != markers[index - 1]
            ]
            assert len(runs) == len(counts)
        return checked

    writers, readers = 4, 4

    with ThreadPoolExecutor(writers + readers) as pool:
        reads = [pool.submit(read, index) for index in range(readers)]
        writes = [pool.submit(write, index) for index in range(writers)]
        for future in writes:
            future.result(timeout=120)
        done.set()
        checks = [future.result(timeout=120) for future in reads]

    assert min(checks) >= 1
    assert server_api.data("batched").json["current_size"] == max_size
