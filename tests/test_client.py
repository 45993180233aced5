"""``bufferkit.Client`` against real servers: the standalone one and Jupyter's."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import psutil
import pytest
from polars.testing import assert_frame_equal

from bufferkit import _discovery, append_request
from bufferkit._frames import arrow_stream
from bufferkit.client import BufferHandle, Client
from bufferkit.errors import (
    BufferExistsError,
    BufferkitError,
    BufferNotFoundError,
    InvalidRequestError,
)
from bufferkit.formats import ARROW_STREAM_TYPE
from bufferkit.transport import Transport
from tests.http import Api
from tests.servers import ServerProcess, free_port

HOSTS = ("standalone", "jupyter")


@pytest.fixture(params=HOSTS)
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    """A client of each host in turn; buffers are deleted after each test."""
    server: ServerProcess = request.getfixturevalue(request.param)
    with Client(server.base_url, server.token) as client:
        yield client
        for model in client.buffers():
            client.delete(model["name"])


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No server in the environment and an empty Jupyter runtime directory."""
    monkeypatch.delenv("BUFFERKIT_URL", raising=False)
    monkeypatch.delenv("BUFFERKIT_TOKEN", raising=False)
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    runtime_dir = tmp_path / "runtime"
    runtime_dir.mkdir()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime_dir))
    monkeypatch.setattr(_discovery, "DEFAULT_URL", f"http://127.0.0.1:{free_port()}/")
    return runtime_dir


def test_create_append_and_read(client: Client) -> None:
    handle = client.create("metrics", ["cpu", "memory"], max_size=3)

    one = handle.append({"cpu": 1, "memory": 2.5})
    many = handle.append([{"cpu": 3, "memory": 4}, {"cpu": 5, "memory": 6}])
    frame = handle.append(pl.DataFrame({"memory": [8], "cpu": [7]}))

    assert one == {"rows_appended": 1, "current_size": 1, "rows_dropped": 0}
    assert many == {"rows_appended": 2, "current_size": 3, "rows_dropped": 0}
    assert frame == {"rows_appended": 1, "current_size": 3, "rows_dropped": 1}
    expected = pl.DataFrame({"cpu": [3.0, 5.0, 7.0], "memory": [4.0, 6.0, 8.0]})
    assert_frame_equal(handle.to_polars(), expected)


def test_data_pages_and_last_rows(client: Client) -> None:
    handle = client.create("series", ["x"])
    handle.append([{"x": value} for value in range(10)])

    page = handle.data(offset=2, limit=3)
    last = handle.data(last=2)
    past_end = handle.data(offset=20)

    assert page["x"].to_list() == [2.0, 3.0, 4.0]
    assert last["x"].to_list() == [8.0, 9.0]
    assert past_end.schema == pl.Schema({"x": pl.Float64})
    assert past_end.height == 0


def test_empty_buffer_reads_as_typed_empty_frame(client: Client) -> None:
    handle = client.create("empty", ["b", "a"])

    frame = handle.to_polars()

    assert frame.columns == ["b", "a"]
    assert frame.dtypes == [pl.Float64, pl.Float64]
    assert frame.height == 0


def test_features_info_and_handles(client: Client) -> None:
    client.create("feat", ["x"], max_size=10, rolling_windows=[2], lag_periods=[1])
    handle = client.buffer("feat")
    handle.append([{"x": 1.0}, {"x": 3.0}])

    features = handle.features()
    info = handle.info()

    assert isinstance(handle, BufferHandle)
    assert (handle.name, handle.columns) == ("feat", ("x",))
    assert features["x_rolling_mean_2"] == 2.0
    assert features["x_lag_1"] == 1.0
    assert features["x_delta_1"] == 2.0
    assert info["current_size"] == 2
    assert info["rolling_windows"] == [2]
    assert [model["name"] for model in client.buffers()] == ["feat"]


def test_delete_and_errors(client: Client) -> None:
    client.create("gone", ["x"])

    deleted = client.delete("gone")
    with pytest.raises(BufferNotFoundError) as missing:
        client.buffer("gone")
    client.create("taken", ["x"])
    with pytest.raises(BufferExistsError) as exists:
        client.create("taken", ["x"])
    with pytest.raises(InvalidRequestError) as invalid:
        client.buffer("taken").append({"y": 1.0})

    assert deleted == {"deleted": "gone", "memory_freed_bytes": 0}
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert missing.value.message == "Buffer 'gone' not found"
    assert (exists.value.status, exists.value.code) == (409, "conflict")
    assert invalid.value.status == 400
    assert "Schema mismatch" in invalid.value.message


def test_large_frame_goes_in_chunks(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(append_request, "APPEND_CHUNK_ROWS", 4)
    handle = client.create("chunks", ["x", "y"], max_size=8)
    frame = pl.DataFrame({"x": range(10), "y": [float(i) / 2 for i in range(10)]})

    result = handle.append(frame)

    assert result == {"rows_appended": 10, "current_size": 8, "rows_dropped": 2}
    assert_frame_equal(handle.to_polars(), frame.tail(8).cast(pl.Float64))


def test_frame_of_120k_rows(client: Client) -> None:
    rows = 120_000
    handle = client.create("bulk", ["x"], max_size=rows)
    frame = pl.DataFrame({"x": pl.arange(0, rows, eager=True).cast(pl.Float64)})

    result = handle.append(frame)

    assert result["rows_appended"] == rows
    assert_frame_equal(handle.to_polars(), frame)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pl.DataFrame({"x": [1.0], "z": [2.0]}), "Schema mismatch"),
        (pl.DataFrame({"x": ["1"]}), "has type String"),
        (pl.DataFrame({"x": [1.0, None]}), r"contains null \(row 1\)"),
        (pl.DataFrame({"x": [1.0, float("nan")]}), r"value: nan \(row 1\)"),
        (pl.DataFrame({"x": [1.0, 2.0, float("-inf")]}), r"value: -inf \(row 2\)"),
    ],
)
def test_bad_frame_stores_nothing(
    client: Client, frame: pl.DataFrame, message: str
) -> None:
    handle = client.create("strict", ["x"])

    with pytest.raises(InvalidRequestError, match=message):
        handle.append(frame)

    assert handle.info()["current_size"] == 0


def test_explicit_url_and_token(standalone: ServerProcess) -> None:
    with Client(standalone.base_url.rstrip("/"), "unused") as client:
        assert client.url == standalone.base_url
        assert client.buffers() == []


def test_environment_url_and_token(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, jupyter: ServerProcess
) -> None:
    monkeypatch.setenv("BUFFERKIT_URL", jupyter.base_url)
    monkeypatch.setenv("BUFFERKIT_TOKEN", jupyter.token or "")

    with Client() as client:
        assert client.url == jupyter.base_url
        assert client.buffers() == []


def test_finds_running_jupyter_server(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, jupyter: ServerProcess
) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(jupyter.runtime_dir))

    with Client() as client:
        assert client.url == jupyter.base_url
        assert client.buffers() == []


def write_server_info(runtime_dir: Path, name: str, info: dict[str, object]) -> None:
    (runtime_dir / f"jpserver-{name}.json").write_text(json.dumps(info))


@pytest.mark.parametrize("parent", HOSTS)
def test_prefers_the_kernels_own_server(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    standalone: ServerProcess,
    jupyter: ServerProcess,
    parent: str,
) -> None:
    # Both listed servers respond, and the one whose process is the parent wins.
    write_server_info(
        clean_env,
        "1",
        {"url": jupyter.base_url, "token": jupyter.token, "pid": jupyter.process.pid},
    )
    write_server_info(
        clean_env,
        "2",
        {"url": standalone.base_url, "token": "", "pid": standalone.process.pid},
    )
    chosen: ServerProcess = request.getfixturevalue(parent)
    monkeypatch.setenv("JPY_PARENT_PID", str(chosen.process.pid))

    with Client() as client:
        assert client.url == chosen.base_url


def test_skips_jupyter_server_without_extension(
    clean_env: Path, standalone: ServerProcess
) -> None:
    # A live process is listed with a URL where no bufferkit API responds.
    write_server_info(
        clean_env,
        "1",
        {"url": _discovery.DEFAULT_URL, "token": "x", "pid": os.getpid()},
    )

    assert not _discovery._has_api(_discovery.DEFAULT_URL, "x")
    assert _discovery._jupyter_servers() == [(_discovery.DEFAULT_URL, "x")]


def test_starts_a_background_server(clean_env: Path) -> None:
    previous = _discovery._background
    try:
        with Client() as client:
            handle = client.create("auto", ["x"])
            handle.append({"x": 1.0})
            url = client.url
            rows = handle.to_polars()["x"].to_list()
        with Client() as again:
            reused = again.url
        without_token = Api(url).get("v1/ml/buffers")
    finally:
        started = _discovery._background
        _discovery._background = previous
        if started is not None and started is not previous:
            started.stop()

    assert url.startswith("http://127.0.0.1:")
    assert rows == [1.0]
    assert reused == url
    assert without_token.status == 401
    assert started is not None and not started.running


def test_unreachable_server_raises_connection_error() -> None:
    with (
        Client(f"http://127.0.0.1:{free_port()}/") as client,
        pytest.raises(ConnectionError),
    ):
        client.buffers()


def test_error_without_json_body_keeps_status(jupyter: ServerProcess) -> None:
    root = jupyter.base_url.replace("/a@b/", "/")
    with Client(root, jupyter.token) as client, pytest.raises(BufferkitError) as error:
        client.buffers()

    assert error.value.status == 404


def json_frame(reply: dict[str, Any]) -> pl.DataFrame:
    """Build the frame of a JSON read's rows, float64 columns in schema order."""
    schema = dict.fromkeys(reply["columns"], pl.Float64)
    return pl.DataFrame(reply["data"], schema=schema, orient="row")


def awkward_floats(count: int, seed: int) -> list[float]:
    """Return floats with long or unusual text forms, which JSON and CSV must keep."""
    generator = random.Random(seed)
    special = [0.1, -0.0, 5e-324, 1.7976931348623157e308, -2.5e-300, 1 / 3]
    values = [generator.uniform(-1e6, 1e6) for _ in range(count - len(special))]
    return special + values


def test_numeric_frames_round_trip_as_arrow(client: Client) -> None:
    handle = client.create("typed", ["a", "b", "c", "d"], max_size=1_000)
    frame = pl.DataFrame(
        {
            "d": pl.Series(range(100), dtype=pl.UInt8),
            "b": pl.Series(range(-50, 50), dtype=pl.Int32),
            "c": pl.Series([value / 7 for value in range(100)], dtype=pl.Float32),
            "a": awkward_floats(100, seed=1),
        }
    )

    result = handle.append(frame)

    expected = frame.select(pl.col(name).cast(pl.Float64) for name in "abcd")
    assert result == {"rows_appended": 100, "current_size": 100, "rows_dropped": 0}
    assert_frame_equal(handle.to_polars(), expected)


def test_arrow_reads_equal_json_reads(client: Client) -> None:
    handle = client.create("exact", ["x", "y"], max_size=500)
    handle.append(
        [
            {"x": x, "y": y}
            for x, y in zip(
                awkward_floats(600, seed=2), awkward_floats(600, seed=3), strict=True
            )
        ]
    )
    path = "v1/ml/buffers/exact/data"

    for query, read in [
        ("", handle.to_polars),
        ("?offset=7&limit=100", lambda: handle.data(offset=7, limit=100)),
        ("?last=33", lambda: handle.data(last=33)),
        ("?offset=900", lambda: handle.data(offset=900)),
    ]:
        assert_frame_equal(read(), json_frame(client.request("GET", path + query)))


def test_feature_history_equals_json(client: Client) -> None:
    handle = client.create(
        "history",
        ["cpu", "memory"],
        max_size=200,
        rolling_windows=[3, 10],
        lag_periods=[1, 5],
    )
    handle.append(
        pl.DataFrame(
            {"cpu": awkward_floats(250, seed=4), "memory": awkward_floats(250, seed=5)}
        )
    )
    path = "v1/ml/buffers/history/features/history"

    whole = handle.feature_history()
    paged = handle.feature_history(offset=5, limit=20)
    last = handle.feature_history(last=4)

    assert_frame_equal(whole, json_frame(client.request("GET", path)))
    assert_frame_equal(
        paged, json_frame(client.request("GET", path + "?offset=5&limit=20"))
    )
    assert_frame_equal(last, json_frame(client.request("GET", path + "?last=4")))
    assert whole.columns == list(handle.features())
    assert whole.row(-1) == tuple(handle.features().values())
    assert whole.height == 200
    assert whole["cpu_lag_5"].null_count() == 5


def test_featureless_history_keeps_row_count(client: Client) -> None:
    handle = client.create("plain", ["x"])
    handle.append([{"x": 1.0}, {"x": 2.0}, {"x": 3.0}])

    assert handle.feature_history().shape == (3, 0)
    assert handle.feature_history(last=2).shape == (2, 0)


@pytest.mark.parametrize("name", ["rows.parquet", "rows.csv", "ROWS.CSV"])
def test_export_reads_back_equal(client: Client, tmp_path: Path, name: str) -> None:
    handle = client.create("export", ["b", "a"], max_size=300)
    handle.append(
        pl.DataFrame({"b": awkward_floats(300, seed=6), "a": awkward_floats(300, 7)})
    )
    target = tmp_path / name

    written = handle.export(str(target))

    read = pl.read_parquet if name.endswith("parquet") else pl.read_csv
    assert written == target
    assert_frame_equal(read(written), handle.to_polars())


@pytest.mark.parametrize(
    ("name", "shown"), [("rows.xlsx", "'.xlsx'"), ("rows", "none")]
)
def test_export_rejects_unknown_extension(
    client: Client, tmp_path: Path, name: str, shown: str
) -> None:
    handle = client.create("export", ["x"])

    with pytest.raises(ValueError, match="extension") as error:
        handle.export(tmp_path / name)

    assert str(error.value) == (
        f"Cannot export to {name!r}: unsupported extension {shown}; "
        "use '.parquet' or '.csv'"
    )
    assert list(tmp_path.iterdir()) == []


def test_large_row_list_goes_in_chunks(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(append_request, "APPEND_CHUNK_ROWS", 4)
    handle = client.create("rows", ["x", "y"], max_size=8)
    rows = [{"y": value / 2, "x": value} for value in range(10)]

    result = handle.append(rows)

    expected = pl.DataFrame(rows).select("x", "y").cast(pl.Float64).tail(8)
    assert result == {"rows_appended": 10, "current_size": 8, "rows_dropped": 2}
    assert_frame_equal(handle.to_polars(), expected)


BAD_ROWS = [
    ({"x": "high", "y": 1.0}, "Column 'x' contains non-numeric value: 'high'"),
    ({"x": 1.0}, "Schema mismatch: buffer expects columns ['x', 'y'], got ['x']"),
    ({"x": 1.0, "y": True}, "Column 'y' contains non-numeric value: true"),
    ({"x": 1.0, "y": None}, "Column 'y' contains non-numeric value: null"),
]


@pytest.mark.parametrize(("bad_row", "message"), BAD_ROWS)
def test_bad_later_chunk_stores_nothing(
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    bad_row: dict[str, Any],
    message: str,
) -> None:
    handle = client.create("atomic", ["x", "y"])
    rows = [{"x": float(value), "y": 0.5} for value in range(10)]
    rows[7] = bad_row
    with pytest.raises(InvalidRequestError) as whole:
        handle.append(rows)
    monkeypatch.setattr(append_request, "APPEND_CHUNK_ROWS", 4)

    with pytest.raises(InvalidRequestError) as chunked:
        handle.append(rows)

    assert whole.value.message == f"{message} (row 7)"
    assert chunked.value.message == whole.value.message
    assert chunked.value.status == 400
    assert handle.info()["current_size"] == 0


def test_long_list_checked_before_sending(client: Client) -> None:
    rows = append_request.APPEND_CHUNK_ROWS + 10_000
    handle = client.create("long", ["x"], max_size=rows)
    data = [{"x": float(value)} for value in range(rows)]
    data[-1] = {"x": "late"}

    with pytest.raises(InvalidRequestError, match=rf"'late' \(row {rows - 1}\)"):
        handle.append(data)
    data[-1] = {"x": -1.0}
    result = handle.append(data)

    assert handle.info()["current_size"] == rows
    assert result == {"rows_appended": rows, "current_size": rows, "rows_dropped": 0}
    assert handle.data(last=1)["x"].to_list() == [-1.0]


def test_transport_content_type_and_bytes(standalone: ServerProcess) -> None:
    transport = Transport(standalone.base_url, standalone.token)
    try:
        transport.request(
            "POST", "v1/ml/buffers", {"name": "transport", "columns": ["x"]}
        )
        stream = pl.DataFrame({"x": [1.5, 2.5]})
        body = arrow_stream(stream)
        appended = transport.request(
            "POST",
            "v1/ml/buffers/transport/append",
            raw=body,
            content_type=ARROW_STREAM_TYPE,
        )
        connection = transport._connection
        csv = transport.request(
            "GET", "v1/ml/buffers/transport/data?format=csv", decode=False
        )
        with pytest.raises(BufferNotFoundError):
            transport.request(
                "GET", "v1/ml/buffers/nope/data?format=arrow", decode=False
            )
        with pytest.raises(InvalidRequestError, match="not a complete Arrow"):
            transport.request(
                "POST",
                "v1/ml/buffers/transport/append",
                raw=b"{}",
                content_type=ARROW_STREAM_TYPE,
            )
        reused = transport._connection is connection
        transport.request("DELETE", "v1/ml/buffers/transport")
    finally:
        transport.close()

    assert appended["rows_appended"] == 2
    assert csv == b"x\n1.5\n2.5\n"
    assert reused


def test_background_server_dies_with_client(clean_env: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from bufferkit import _discovery
        url, _ = _discovery._background_server()
        print(_discovery._background.process.pid, url, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pid_text, url = parent.stdout.readline().split()
        server = psutil.Process(int(pid_text))
        assert Api(url).get("v1/ml/buffers").status == 401
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and running(server):
        time.sleep(0.05)
    stopped = not running(server)
    if not stopped:
        server.kill()
    assert stopped, "the background server outlived its client by 10 seconds"
    with pytest.raises(OSError):
        Api(url).get("v1/ml/buffers")


def running(process: psutil.Process) -> bool:
    """Whether ``process`` runs; a zombie not reaped by its new parent does not."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
