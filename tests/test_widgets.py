"""Live views against a real server, with a recording comm in place of a browser."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import comm
import numpy as np
import pytest
from comm.base_comm import BaseComm

from bufferkit import BufferHandle, Client
from bufferkit.widgets import BufferView, MemoryView
from bufferkit.widgets._html import format_value
from bufferkit.widgets._rate import rows_appended
from bufferkit.widgets._svg import downsample, line_chart, polyline_points
from bufferkit.widgets.memory_view import render_memory
from tests.servers import ServerProcess, start_standalone

# Chart geometry of ``line_chart``'s defaults: a 510 x 48 pixel plot.
_PLOT_WIDTH = 510
_PLOT_HEIGHT = 48


class RecordingComm(BaseComm):  # type: ignore[misc]
    """A comm that records the messages a widget sends instead of sending them."""

    def __init__(self, **kwargs: Any) -> None:
        self.messages: list[tuple[str, Any]] = []
        super().__init__(**kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, **keys: Any) -> None:
        self.messages.append((msg_type, data))

    def updates(self) -> list[dict[str, Any]]:
        """The state of every ``update`` message, oldest first."""
        return [
            data["state"]
            for msg_type, data in self.messages
            if msg_type == "comm_msg" and data["method"] == "update"
        ]


class FakeClock:
    """A monotonic clock that moves only when a test advances it."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def recording_comms(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give every widget created in a test a ``RecordingComm``."""
    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    yield


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(standalone: ServerProcess) -> Iterator[Client]:
    """A client of the session's server; its buffers are deleted afterwards."""
    client = Client(standalone.base_url, standalone.token)
    yield client
    for model in client.buffers():
        client.delete(model["name"])
    client.close()


def _comm(view: BufferView | MemoryView) -> RecordingComm:
    recorder = view.html.comm
    assert isinstance(recorder, RecordingComm)
    return recorder


def _polylines(html: str) -> list[str]:
    return re.findall(r'<polyline [^>]*points="([^"]*)"', html)


def _cells(html: str) -> list[list[str]]:
    table = html[html.index("<table") :]
    return [
        re.findall(r"<t[dh][^>]*>([^<]*)</t[dh]>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", table)
    ]


# Drawing


def test_downsample_short_series_whole() -> None:
    values = np.arange(10.0)

    positions, kept = downsample(values, 5)

    assert positions.tolist() == list(range(10))
    assert kept.tolist() == values.tolist()


def test_downsample_keeps_extremes() -> None:
    values = np.sin(np.arange(1_000_000) / 1_000.0)
    values[123_457] = 50.0
    values[987_654] = -50.0

    positions, kept = downsample(values, 500)

    assert len(kept) <= 1_000
    assert np.all(np.diff(positions) > 0)
    assert 123_457 in positions.tolist()
    assert 987_654 in positions.tolist()
    assert kept.max() == 50.0
    assert kept.min() == -50.0


def test_polyline_known_series() -> None:
    points = polyline_points(
        np.array([0, 1, 2, 3, 4]),
        np.array([10.0, 20.0, 15.0, 10.0, 30.0]),
        count=5,
        low=10.0,
        high=30.0,
        width=100.0,
        height=40.0,
    )

    assert points == "0.0,40.0 25.0,20.0 50.0,30.0 75.0,40.0 100.0,0.0"


def test_polyline_flat_series_centred() -> None:
    points = polyline_points(
        np.array([0, 1]),
        np.array([7.0, 7.0]),
        count=2,
        low=7.0,
        high=7.0,
        width=10.0,
        height=40.0,
    )

    assert points == "0.0,20.0 10.0,20.0"


def test_chart_of_million_rows_small() -> None:
    values = np.random.default_rng(0).normal(size=1_000_000)

    svg = line_chart("x", values)

    assert len(svg) < 25_000
    assert len(_polylines(svg)[0].split()) <= 2 * _PLOT_WIDTH


def test_chart_escapes_names() -> None:
    svg = line_chart("<script>alert(1)</script>", np.array([1.0, 2.0]))

    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (25856.3, "25,856.3"),
        (1368811.0, "1,368,811"),
        (1840.123, "1,840.12"),
        (999999.7, "1,000,000"),
        (-1234.5, "-1,234.5"),
        (-0.0, "0"),
        (0.000123456789, "0.000123457"),
        (1e-6, "0.000001"),
        (1e12, "1,000,000,000,000"),
        (-23978812.4, "-23,978,812"),
        (1e-7, "1e-07"),
        (2.5e20, "2.5e+20"),
        (None, "null"),
    ],
)
def test_format_value_one_format(value: float | None, text: str) -> None:
    assert format_value(value) == text


def test_chart_labels_same_format(client: Client, clock: FakeClock) -> None:
    handle = client.create("network", ["bytes"], max_size=10)
    handle.append([{"bytes": value} for value in (1368811.0, 25856.3)])
    view = BufferView(handle, start=False, clock=clock)

    view.refresh()

    labels = re.findall(
        r'<text x="516" y="[0-9]+" [^>]*>([^<]*)</text>', view.html.value
    )
    assert labels == ["1,368,811", "25,856.3"]
    assert "newest 25,856.3" in view.html.value
    assert _cells(view.html.value)[1:] == [["0", "1,368,811"], ["1", "25,856.3"]]


# Rows appended between reads


def test_rate_growth_while_not_full() -> None:
    before = np.array([[1.0], [2.0]])
    after = np.array([[1.0], [2.0], [2.0], [2.0], [2.0]])

    assert rows_appended(before, 2, after, 5, 100).rows == 3


def test_rate_shift_when_full() -> None:
    before = np.arange(10.0).reshape(5, 2)
    after = np.concatenate([before[3:], [[100.0, 101.0]] * 3])

    result = rows_appended(before, 5, after, 5, 5)

    assert result.rows == 3
    assert result.exact


def test_rate_lower_bound_when_all_new() -> None:
    before = np.zeros((4, 1))
    after = np.ones((4, 1))

    result = rows_appended(before, 4, after, 4, 4)

    assert result.rows == 4
    assert not result.exact


def test_rate_shift_filling_up() -> None:
    before = np.array([[1.0], [2.0], [3.0]])
    after = np.array([[3.0], [3.0], [4.0], [5.0]])

    assert rows_appended(before, 3, after, 4, 4).rows == 3


# BufferView


def test_buffer_view_table_cells(client: Client, clock: FakeClock) -> None:
    handle = client.create("table", ["cpu", "memory"], max_size=10)
    handle.append([{"cpu": float(i), "memory": 100.0 + i / 4} for i in range(6)])
    view = BufferView(handle, rows=3, start=False, clock=clock)

    assert view.refresh()

    assert _cells(view.html.value) == [
        ["row", "cpu", "memory"],
        ["3", "3", "100.75"],
        ["4", "4", "101"],
        ["5", "5", "101.25"],
    ]


def test_buffer_view_chart_points(client: Client, clock: FakeClock) -> None:
    handle = client.create("chart", ["x", "y"], max_size=10)
    handle.append([{"x": x, "y": 5.0} for x in (0.0, 10.0, 5.0)])
    view = BufferView(handle, start=False, clock=clock)

    view.refresh()

    x_points, y_points = _polylines(view.html.value)
    assert x_points == "0.0,48.0 255.0,0.0 510.0,24.0"
    assert y_points == "0.0,24.0 255.0,24.0 510.0,24.0"


def test_buffer_view_fill_bar(client: Client, clock: FakeClock) -> None:
    handle = client.create("fill", ["x"], max_size=8)
    handle.append([{"x": 1.0}] * 3)
    view = BufferView(handle, start=False, clock=clock)

    view.refresh()

    html = view.html.value
    assert "3 / 8 rows (37.5%)" in html
    assert 'width="112.5"' in html  # 3/8 of the 300 pixel bar


def test_buffer_view_rows_per_second(client: Client, clock: FakeClock) -> None:
    handle = client.create("rate", ["x"], max_size=100)
    handle.append([{"x": 0.0}] * 10)
    view = BufferView(handle, start=False, clock=clock)
    view.refresh()
    assert "rows/s: measuring" in view.html.value

    handle.append([{"x": float(i)} for i in range(50)])
    clock.advance(2.0)
    view.refresh()

    assert "25 rows/s" in view.html.value


def test_buffer_view_rate_when_full(client: Client, clock: FakeClock) -> None:
    handle = client.create("rate_full", ["x"], max_size=20)
    handle.append([{"x": float(i)} for i in range(20)])
    view = BufferView(handle, start=False, clock=clock)
    view.refresh()

    handle.append([{"x": float(i)} for i in range(100, 107)])
    clock.advance(1.0)
    view.refresh()

    assert "20 / 20 rows (100.0%) · 7 rows/s" in view.html.value


def test_buffer_view_bounded_chart(client: Client, clock: FakeClock) -> None:
    handle = client.create("long", ["x"], max_size=200_000)
    rng = np.random.default_rng(1)
    for _ in range(4):
        handle.append([{"x": value} for value in rng.normal(size=50_000).tolist()])
    view = BufferView(handle, chart_rows=None, start=False, clock=clock)

    view.refresh()

    html = view.html.value
    assert "200,000 / 200,000 rows" in html
    assert len(_polylines(html)[0].split()) <= 2 * _PLOT_WIDTH
    assert len(html) < 40_000


def test_buffer_view_caps_chart_rows(client: Client, clock: FakeClock) -> None:
    handle = client.create("capped", ["x"], max_size=100)
    handle.append([{"x": float(i)} for i in range(40)])
    view = BufferView(handle, chart_rows=25, start=False, clock=clock)

    view.refresh()

    assert "Charts: newest 25 of 40 rows." in view.html.value
    assert len(_polylines(view.html.value)[0].split()) == 25


def test_buffer_view_escapes_columns(client: Client, clock: FakeClock) -> None:
    handle = client.create("escape", ["<b>x</b>"])
    handle.append([{"<b>x</b>": 1.0}])
    view = BufferView(handle, start=False, clock=clock)

    view.refresh()

    assert "<b>x</b>" not in view.html.value
    assert "&lt;b&gt;x&lt;/b&gt;" in view.html.value


def test_buffer_view_empty_buffer(client: Client, clock: FakeClock) -> None:
    handle = client.create("empty", ["x"], max_size=5)
    view = BufferView(handle, start=False, clock=clock)

    view.refresh()

    assert "0 / 5 rows (0.0%)" in view.html.value
    assert "no rows yet" in view.html.value
    assert _cells(view.html.value) == [["row", "x"]]


# Updates: only on change, one message each, at most one per interval


def test_update_is_one_message(client: Client, clock: FakeClock) -> None:
    handle = client.create("one_message", ["x"])
    handle.append([{"x": 1.0}])
    view = BufferView(handle, start=False, clock=clock)

    view.refresh()

    updates = _comm(view).updates()
    assert len(updates) == 1
    assert list(updates[0]) == ["value"]
    assert updates[0]["value"] == view.html.value


def test_no_update_without_change(client: Client, clock: FakeClock) -> None:
    handle = client.create("unchanged", ["x"], max_size=5)
    handle.append([{"x": 1.0}] * 5)
    view = BufferView(handle, start=False, clock=clock)
    view.refresh()
    clock.advance(1.0)
    view.refresh()  # the rate goes from "measuring" to 0 rows/s
    sent = len(_comm(view).updates())

    for _ in range(5):
        clock.advance(1.0)
        assert not view.refresh()

    assert len(_comm(view).updates()) == sent


def test_throttle_fake_clock(client: Client, clock: FakeClock) -> None:
    handle = client.create("busy", ["x"], max_size=1_000)
    view = BufferView(handle, interval=1.0, start=False, clock=clock)

    # Ten simulated seconds, a batch of 100 rows and a refresh every 20 ms.
    for step in range(500):
        handle.append([{"x": float(step * 100 + i)} for i in range(100)])
        view.refresh()
        clock.advance(0.02)

    assert view.updates == 10
    assert len(_comm(view).updates()) == 10


def test_throttle_real_thread(client: Client) -> None:
    handle = client.create("firehose", ["x"], max_size=10_000)
    view = BufferView(handle, interval=0.5, start=False)
    stop = time.monotonic() + 2.0
    appended = 0

    view.start()
    while time.monotonic() < stop:
        handle.append([{"x": float(appended + i)} for i in range(500)])
        appended += 500
    view.stop()

    assert appended >= 2_000
    assert 1 <= len(_comm(view).updates()) <= 2.0 / 0.5 + 1
    assert not view.running


def test_thread_updates_while_busy(client: Client) -> None:
    handle = client.create("background", ["x"])
    view = BufferView(handle, interval=0.1)
    try:
        handle.append([{"x": 1.0}] * 3)
        deadline = time.monotonic() + 10
        while "3 / 10,000 rows" not in view.html.value:
            assert time.monotonic() < deadline, view.html.value
            time.sleep(0.05)
    finally:
        view.stop()

    assert not view.running


# Deletion, a server that went away, closing


def test_buffer_view_deleted(client: Client) -> None:
    handle = client.create("doomed", ["x"])
    handle.append([{"x": 1.0}])
    view = BufferView(handle, interval=0.1)
    deadline = time.monotonic() + 10
    while "1 / 10,000 rows" not in view.html.value:
        assert time.monotonic() < deadline
        time.sleep(0.02)

    client.delete("doomed")
    while view.running:
        assert time.monotonic() < deadline, view.html.value
        time.sleep(0.02)

    assert (
        "Buffer &#x27;doomed&#x27; not found, so this view stopped refreshing."
        in view.html.value
    )


def test_server_gone_then_back(clock: FakeClock) -> None:
    server = start_standalone()
    port = server.base_url.rsplit(":", 1)[1].rstrip("/")
    client = Client(server.base_url, timeout=5)
    handle = client.create("metrics", ["x"])
    handle.append({"x": 1.0})
    view = BufferView(handle, interval=1.0, start=False, clock=clock)
    memory = MemoryView(client, interval=1.0, start=False, clock=clock)
    view.refresh()
    memory.refresh()

    assert server.stop() == 0
    clock.advance(1.0)
    view.refresh()
    memory.refresh()
    unreachable = (
        "Server not reachable (ServerUnavailableError: Cannot reach the bufferkit "
        f"server at {server.base_url} (Connection refused)"
    )
    assert unreachable in view.html.value
    assert "retrying every 1 s." in view.html.value
    assert unreachable in memory.html.value

    server = start_standalone("--port", port)
    try:
        client.create("metrics", ["x"]).append([{"x": 2.0}, {"x": 3.0}])
        clock.advance(1.0)
        view.refresh()
        memory.refresh()
    finally:
        client.close()
        assert server.stop() == 0

    assert "2 / 10,000 rows" in view.html.value
    assert "1 buffer</b> · 16 bytes in total" in memory.html.value


def test_close_stops_thread(client: Client) -> None:
    handle = client.create("closing", ["x"])
    view = BufferView(handle, interval=0.1)
    memory = MemoryView(client, interval=0.1)
    html_comm = _comm(view)

    view.close()
    memory.close()

    assert not view.running
    assert not memory.running
    assert view.comm is None
    assert ("comm_close", {}) in [
        (msg_type, data or {}) for msg_type, data in html_comm.messages
    ]


def test_views_repr_stable(client: Client) -> None:
    handle = client.create("shown", ["x"])
    view = BufferView(handle, rows=5, start=False)
    memory = MemoryView(client, start=False)

    assert repr(view) == "BufferView('shown', rows=5, interval=1)"
    assert repr(memory) == "MemoryView(interval=2)"
    assert view._repr_mimebundle_()["text/plain"] == repr(view)


def test_invalid_arguments() -> None:
    with Client("http://127.0.0.1:9/") as client:
        handle = BufferHandle(client, {"name": "x", "columns": ["x"]})
        with pytest.raises(ValueError, match="rows must be at least 1, got 0"):
            BufferView(handle, rows=0)
        with pytest.raises(ValueError, match="chart_rows must be at least 2 or None"):
            BufferView(handle, chart_rows=1)
        with pytest.raises(ValueError, match="interval must be a positive number"):
            MemoryView(client, interval=0)


# MemoryView


def test_memory_view_bars(client: Client, clock: FakeClock) -> None:
    client.create("small", ["x"]).append([{"x": 1.0}] * 10)
    client.create("large", ["a", "b"]).append([{"a": 1.0, "b": 2.0}] * 40)
    client.create("empty", ["x"])
    view = MemoryView(client, start=False, clock=clock)

    view.refresh()

    html = view.html.value
    names = re.findall(r'<td style="[^"]*">([a-z]+)</td>', html)
    widths = re.findall(r'<rect x="0" y="0" width="([0-9.]+)"', html)
    assert names == ["large", "small", "empty"]
    assert widths == ["300.0", "37.5", "0.0"]  # 640, 80 and 0 bytes
    assert "3 buffers</b> · 720 bytes in total (720 B)" in html
    assert "640 B" in html


def test_memory_view_no_buffers(client: Client, clock: FakeClock) -> None:
    view = MemoryView(client, start=False, clock=clock)

    view.refresh()

    assert "0 buffers</b> · 0 bytes in total" in view.html.value


def test_memory_view_throttled(client: Client, clock: FakeClock) -> None:
    handle = client.create("growing", ["x"])
    view = MemoryView(client, interval=2.0, start=False, clock=clock)

    for step in range(100):
        handle.append([{"x": float(step)}])
        view.refresh()
        clock.advance(0.1)

    assert view.updates == 5
    assert len(_comm(view).updates()) == 5


def test_render_memory_ties_keep_order() -> None:
    models = [
        {"name": name, "memory_bytes": 8, "current_size": 1, "max_size": 2}
        for name in ("b", "a", "c")
    ]

    html = render_memory(models)

    assert re.findall(r'<td style="[^"]*">([a-z])</td>', html) == ["b", "a", "c"]


def test_views_refresh_independently(client: Client) -> None:
    handles = [client.create(f"parallel{i}", ["x"]) for i in range(3)]
    views = [BufferView(handle, interval=0.05) for handle in handles]
    try:
        threads = [
            threading.Thread(target=handle.append, args=([{"x": float(i)}] * (i + 1),))
            for i, handle in enumerate(handles)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + 10
        for i, view in enumerate(views):
            while f"{i + 1} / 10,000 rows" not in view.html.value:
                assert time.monotonic() < deadline, view.html.value
                time.sleep(0.02)
    finally:
        for view in views:
            view.stop()
