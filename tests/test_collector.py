"""``bufferkit collect`` streaming this machine's metrics into a real server."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Any, cast

import psutil
import pytest

from bufferkit import collector
from bufferkit.collector import METRIC_COLUMNS, MetricsSampler, ensure_metrics_buffer
from bufferkit.errors import (
    BufferExistsError,
    BufferkitError,
    BufferNotFoundError,
    InvalidRequestError,
)
from bufferkit.transport import Transport
from tests.http import Api
from tests.servers import ServerProcess, start_standalone

_ROWS = 4


def run_collect(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bufferkit", "collect", "--url", server.base_url]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_collect_creates_buffer(standalone: ServerProcess, api: Api) -> None:
    result = run_collect(standalone, "--interval", "0.25", "--count", str(_ROWS))

    assert result.returncode == 0, result.stderr
    model = api.get("v1/ml/buffers/server_metrics").json
    assert model["columns"] == list(METRIC_COLUMNS)
    assert model["rolling_windows"] == [10, 50, 200]
    assert model["lag_periods"] == [1, 5, 10]
    assert model["current_size"] == _ROWS


def test_collect_sends_real_metrics(standalone: ServerProcess, api: Api) -> None:
    result = run_collect(standalone, "--interval", "0.25", "--count", str(_ROWS))

    rows = api.data("server_metrics").json["data"]
    assert result.returncode == 0, result.stderr
    assert len(rows) == _ROWS
    for row in rows:
        assert 0.0 <= row["cpu"] <= 100.0
        assert 0.0 < row["memory"] <= 100.0
        assert row["disk_io"] >= 0.0
        assert row["network"] >= 0.0
    assert len(result.stdout.splitlines()) == _ROWS
    assert result.stdout.splitlines()[-1].endswith(f"size={_ROWS}")


def test_collect_features_follow_rows(standalone: ServerProcess, api: Api) -> None:
    run_collect(standalone, "--interval", "0.2", "--count", str(_ROWS))

    rows = api.data("server_metrics").json["data"]
    body = api.get("v1/ml/buffers/server_metrics/features").json
    features = body["features"]
    assert body["row_count"] == _ROWS
    assert body["feature_count"] == 4 * (3 * 4 + 3 * 2)
    assert features["memory_lag_1"] == rows[-2]["memory"]
    assert features["cpu_delta_1"] == rows[-1]["cpu"] - rows[-2]["cpu"]
    assert features["network_lag_5"] is None
    assert features["disk_io_rolling_mean_10"] is None


def test_collect_appends_to_existing(standalone: ServerProcess, api: Api) -> None:
    run_collect(standalone, "--interval", "0.1", "--count", "2")

    result = run_collect(standalone, "--interval", "0.1", "--count", "3")

    assert result.returncode == 0, result.stderr
    assert api.get("v1/ml/buffers/server_metrics").json["current_size"] == 5


def test_collect_existing_logs_no_conflict() -> None:
    server = start_standalone()
    try:
        first = run_collect(server, "--interval", "0.1", "--count", "1")
        second = run_collect(server, "--interval", "0.1", "--count", "1")
    finally:
        code = server.stop()

    assert code == 0
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "Appending to existing buffer 'server_metrics'" in second.stderr
    assert " 409 " not in server.log
    # The one warning is the first run's 404 read of the buffer it then created.
    assert server.log.count("WARNING") == 1
    assert "WARNING bufferkit: 404 GET /v1/ml/buffers/server_metrics" in server.log


def test_collect_rejects_other_schema(standalone: ServerProcess, api: Api) -> None:
    api.create("server_metrics", ["temperature"])

    result = run_collect(standalone, "--count", "1")

    assert result.returncode == 1
    assert (
        "Buffer 'server_metrics' exists with columns ['temperature'], not "
        "['cpu', 'memory', 'disk_io', 'network']: pick another name with --buffer"
    ) in result.stderr
    assert api.get("v1/ml/buffers/server_metrics").json["current_size"] == 0


def test_collect_reports_unreachable_server() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bufferkit", "collect", "--url", "http://127.0.0.1:9/"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "Cannot reach the bufferkit server at http://127.0.0.1:9/ (" in result.stderr
    assert "start one with `bufferkit serve`" in result.stderr


def test_sampler_rates_from_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    disk = iter([1_000.0, 5_000.0, 5_000.0])
    network = iter([10.0, 410.0, 300.0])
    monkeypatch.setattr(collector, "_disk_bytes", lambda: next(disk))
    monkeypatch.setattr(collector, "_network_bytes", lambda: next(network))
    times = iter([100.0, 102.0, 104.0])
    sampler = MetricsSampler(clock=lambda: next(times))

    first = sampler.sample()
    second = sampler.sample()

    assert list(first) == list(METRIC_COLUMNS)
    assert first["disk_io"] == 2_000.0
    assert first["network"] == 200.0
    assert second["disk_io"] == 0.0
    assert second["network"] == 0.0  # a counter reset never gives a negative rate


class ScriptedTransport:
    """A transport that records requests and plays back scripted replies in turn."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[str, str]] = []

    def request(self, method: str, path: str, body: Any = None) -> Any:
        self.requests.append((method, path))
        reply = self.replies.pop(0)
        if isinstance(reply, BufferkitError):
            raise reply
        return reply


def _ensure(transport: ScriptedTransport) -> None:
    ensure_metrics_buffer(cast(Transport, transport), "server_metrics", 10_000)


_METRICS_MODEL = {"name": "server_metrics", "columns": list(METRIC_COLUMNS)}


def test_ensure_existing_reads_only() -> None:
    transport = ScriptedTransport(_METRICS_MODEL)

    _ensure(transport)

    assert transport.requests == [("GET", "v1/ml/buffers/server_metrics")]


def test_ensure_missing_creates() -> None:
    missing = BufferNotFoundError.named("server_metrics")
    transport = ScriptedTransport(missing, {"name": "server_metrics"})

    _ensure(transport)

    assert transport.requests == [
        ("GET", "v1/ml/buffers/server_metrics"),
        ("POST", "v1/ml/buffers"),
    ]


def test_ensure_create_race_reads_again() -> None:
    missing = BufferNotFoundError.named("server_metrics")
    exists = BufferExistsError.named("server_metrics")
    transport = ScriptedTransport(missing, exists, _METRICS_MODEL)

    _ensure(transport)

    assert transport.requests == [
        ("GET", "v1/ml/buffers/server_metrics"),
        ("POST", "v1/ml/buffers"),
        ("GET", "v1/ml/buffers/server_metrics"),
    ]


def test_ensure_create_race_other_schema() -> None:
    missing = BufferNotFoundError.named("server_metrics")
    exists = BufferExistsError.named("server_metrics")
    other = {"name": "server_metrics", "columns": ["temperature"]}
    transport = ScriptedTransport(missing, exists, other)

    with pytest.raises(InvalidRequestError, match="exists with columns"):
        _ensure(transport)


def test_network_bytes_skip_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    def counters(sent: int, received: int) -> Any:
        return SimpleNamespace(bytes_sent=sent, bytes_recv=received)

    per_interface = {
        "lo": counters(1_000_000, 1_000_000),
        "lo0": counters(500_000, 500_000),
        "eth0": counters(300, 200),
        "wlan0": counters(40, 60),
    }

    def net_io_counters(pernic: bool = False) -> Any:
        assert pernic
        return per_interface

    monkeypatch.setattr(psutil, "net_io_counters", net_io_counters)

    assert collector._network_bytes() == 600.0
