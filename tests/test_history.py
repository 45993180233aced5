"""Feature history: every row's features over HTTP, and the core computation."""

from __future__ import annotations

import io
import math
import tracemalloc
from fractions import Fraction
from typing import Any

import numpy as np
import polars as pl
import pytest

from bufferkit import history
from bufferkit.features import latest_features
from bufferkit.history import history_frame
from tests.http import Api
from tests.servers import ServerProcess

BUFFERS = "v1/ml/buffers"


def get_history(api: Api, name: str, query: str = "") -> dict[str, Any]:
    """Return the JSON feature history of a buffer, checking it succeeded."""
    response = api.get(f"{BUFFERS}/{name}/features/history{query}")
    assert response.status == 200, response.body
    return response.json


def get_features(api: Api, name: str) -> dict[str, Any]:
    """Return the latest features of a buffer."""
    response = api.get(f"{BUFFERS}/{name}/features")
    assert response.status == 200, response.body
    features: dict[str, Any] = response.json["features"]
    return features


def arrow_history(api: Api, name: str, query: str = "") -> pl.DataFrame:
    """Return the feature history of a buffer read as an Arrow IPC stream."""
    separator = "&" if query else "?"
    path = f"{BUFFERS}/{name}/features/history{query}{separator}format=arrow"
    response = api.get(path)
    assert response.status == 200, response.body
    return pl.read_ipc_stream(io.BytesIO(response.body))


def append_x(api: Api, name: str, values: list[float]) -> None:
    """Append one row per value to a buffer whose only column is ``x``."""
    response = api.append(name, [{"x": value} for value in values])
    assert response.status == 200, response.body


def bits(values: Any) -> list[str | None]:
    """Return each float's exact bits as ``float.hex``, ``None`` kept."""
    return [None if value is None else float(value).hex() for value in values]


def exact_std(values: list[float]) -> float:
    """Return the sample standard deviation of ``values`` from exact arithmetic."""
    mean = sum(map(Fraction, values), Fraction(0)) / len(values)
    variance = sum((Fraction(v) - mean) ** 2 for v in values) / (len(values) - 1)
    return math.sqrt(variance)


# Exact values, partial windows first.


def test_history_partial_windows_exact(api: Api) -> None:
    api.create("steps", ["x", "y"], rolling_windows=[2, 3], lag_periods=[1, 2])
    api.append("steps", [{"x": v, "y": 10} for v in (1, 2, 4, 8)])

    reply = get_history(api, "steps")
    rows = reply["data"]

    assert reply["returned_rows"] == 4
    assert reply["row_count"] == 4
    assert reply["offset"] == 0
    assert all(value is None for value in rows[0].values())
    assert rows[1]["x_rolling_mean_2"] == 1.5
    assert rows[1]["x_rolling_std_2"] == math.sqrt(0.5)
    assert rows[1]["x_rolling_min_2"] == 1.0
    assert rows[1]["x_rolling_max_2"] == 2.0
    assert rows[1]["x_rolling_mean_3"] is None
    assert rows[1]["x_lag_1"] == 1.0
    assert rows[1]["x_delta_1"] == 1.0
    assert rows[1]["x_lag_2"] is None
    assert rows[1]["x_delta_2"] is None
    assert rows[2]["x_rolling_mean_3"] == 7 / 3
    assert rows[2]["x_rolling_std_3"] == pytest.approx(exact_std([1, 2, 4]), rel=1e-15)
    assert rows[2]["x_lag_2"] == 1.0
    assert rows[2]["x_delta_2"] == 3.0
    assert rows[3]["x_rolling_mean_2"] == 6.0
    assert rows[3]["x_rolling_std_2"] == math.sqrt(8)
    assert rows[3]["x_rolling_mean_3"] == 14 / 3
    assert rows[3]["x_rolling_std_3"] == pytest.approx(exact_std([2, 4, 8]), rel=1e-15)
    assert rows[3]["x_rolling_min_3"] == 2.0
    assert rows[3]["x_rolling_max_3"] == 8.0
    assert rows[3]["x_delta_2"] == 6.0


def test_history_constant_column_exact(api: Api) -> None:
    api.create("flat", ["x", "y"], rolling_windows=[2, 3], lag_periods=[1])
    api.append("flat", [{"x": v, "y": 0.1} for v in (1, 2, 4, 8)])

    rows = get_history(api, "flat")["data"]

    for row in rows[2:]:
        assert row["y_rolling_mean_3"] == 0.1
        assert row["y_rolling_std_3"] == 0.0
        assert row["y_delta_1"] == 0.0


def test_history_envelope_and_names(api: Api) -> None:
    api.create("named", ["x"], rolling_windows=[2], lag_periods=[1])
    append_x(api, "named", [1, 2])

    reply = get_history(api, "named")

    assert list(reply) == [
        "name",
        "row_count",
        "columns",
        "returned_rows",
        "offset",
        "data",
    ]
    assert reply["name"] == "named"
    assert reply["columns"] == list(get_features(api, "named"))
    assert [list(row) for row in reply["data"]] == [reply["columns"]] * 2


def test_history_after_eviction(api: Api) -> None:
    api.create("evicted", ["x"], max_size=4, rolling_windows=[2], lag_periods=[1])
    append_x(api, "evicted", [100, 1, 2, 4, 8, 16])

    rows = get_history(api, "evicted")["data"]

    assert len(rows) == 4
    assert rows[0]["x_rolling_mean_2"] is None
    assert rows[0]["x_lag_1"] is None
    assert rows[1]["x_rolling_mean_2"] == 3.0
    assert rows[1]["x_lag_1"] == 2.0
    assert rows[3]["x_rolling_max_2"] == 16.0


# The newest row of the history equals /features, bit for bit.

AWKWARD = {
    "near_billion": [1e9 + k * 1e-6 for k in (0, 3, 1, 4, 1, 5, 9, 2, 6, 5)],
    "constant": [0.1] * 10,
    "huge": [1e308] * 10,
    "opposite_extremes": [1.0] * 8 + [-1.7e308, 1.7e308],
    "cancelling": [0.1, 0.2, 0.3, -0.6] * 3,
    "mixed_scales": [1e-300, 1e300, -1e300, 3.5, 1e-5, 2.0, 7e22, -7e22, 0.5, 1.25],
}


@pytest.mark.parametrize("name", sorted(AWKWARD))
def test_newest_row_equals_features(api: Api, name: str) -> None:
    api.create(name, ["x"], max_size=8, rolling_windows=[2, 3, 8], lag_periods=[1, 7])
    append_x(api, name, AWKWARD[name])

    latest = get_features(api, name)
    json_row = get_history(api, name)["data"][-1]
    arrow_row = arrow_history(api, name).row(-1, named=True)

    assert bits(json_row.values()) == bits(latest.values())
    assert bits(arrow_row.values()) == bits(latest.values())


def test_every_row_equals_features_then(api: Api) -> None:
    api.create("stream", ["x", "y"], rolling_windows=[2, 5, 16], lag_periods=[1, 3])
    rng = np.random.default_rng(7)
    seen = []
    for value in rng.normal(1e9, 1e-3, 30).tolist():
        api.append("stream", [{"x": value, "y": round(value) % 7}])
        seen.append(get_features(api, "stream"))

    frame = arrow_history(api, "stream")

    assert frame.height == len(seen)
    for index, latest in enumerate(seen):
        assert bits(frame.row(index)) == bits(latest.values())


def test_history_nulls_where_no_finite(api: Api, standalone: ServerProcess) -> None:
    api.create("extremes", ["x"], rolling_windows=[2], lag_periods=[1])
    append_x(api, "extremes", [-1.7e308, 1.7e308, 1.7e308])

    rows = get_history(api, "extremes")["data"]

    assert rows[1]["x_rolling_std_2"] is None
    assert rows[1]["x_delta_1"] is None
    assert rows[2]["x_rolling_std_2"] == 0.0
    assert "Feature x_rolling_std_2 of buffer 'extremes'" in standalone.log


# Pages, as for /data.


def test_history_pages_match_whole(api: Api) -> None:
    api.create("paged", ["x"], rolling_windows=[3], lag_periods=[2])
    append_x(api, "paged", [float(v * v) for v in range(10)])
    whole = get_history(api, "paged")["data"]

    page = get_history(api, "paged", "?offset=4&limit=3")
    newest = get_history(api, "paged", "?last=2")
    past_end = get_history(api, "paged", "?offset=12")

    assert page["data"] == whole[4:7]
    assert page["offset"] == 4
    assert page["returned_rows"] == 3
    assert newest["data"] == whole[8:]
    assert newest["offset"] == 8
    assert past_end["data"] == []
    assert past_end["offset"] == 12
    assert past_end["returned_rows"] == 0


def test_history_without_features(api: Api) -> None:
    api.create("plain", ["x"])
    append_x(api, "plain", [1, 2, 3])

    reply = get_history(api, "plain")

    assert reply["columns"] == []
    assert reply["returned_rows"] == 3
    assert reply["data"] == [{}, {}, {}]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "?last=2&offset=1",
            "Use either 'last' or 'offset'/'limit', not both: 'last' already "
            "selects the newest rows",
        ),
        (
            "?limit=-1",
            "Query parameter 'limit' must be a non-negative integer, got '-1'",
        ),
        (
            "?page=2",
            "Unknown query parameter 'page': valid parameters are 'offset', "
            "'limit', 'last', 'format'",
        ),
    ],
)
def test_history_bad_query_400(api: Api, query: str, message: str) -> None:
    api.create("queried", ["x"], rolling_windows=[2])

    response = api.get(f"{BUFFERS}/queried/features/history{query}")

    assert response.status == 400
    assert response.json == {"error": {"code": "invalid_request", "message": message}}


def test_history_unknown_buffer_404(api: Api) -> None:
    response = api.get(f"{BUFFERS}/ghost/features/history")

    assert response.status == 404
    assert response.json == {
        "error": {"code": "not_found", "message": "Buffer 'ghost' not found"}
    }


# The core computation, without HTTP.


def test_chunks_match_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.random.default_rng(3).normal(0, 1, (2, 500))
    whole = history_frame(values, ["a", "b"], [2, 7, 64], [1, 9], start=37)

    monkeypatch.setattr(history, "_CHUNK_VALUES", 100)
    chunked = history_frame(values, ["a", "b"], [2, 7, 64], [1, 9], start=37)

    assert chunked.equals(whole)


def test_rows_match_latest_features() -> None:
    values = np.random.default_rng(4).normal(50, 10, (1, 400))
    values[0, 100:110] = 1e308
    frame = history_frame(values, ["x"], [3, 200], [5])

    for row in (0, 2, 199, 200, 250, 399):
        latest = latest_features(values[:, : row + 1], ["x"], [3, 200], [5])
        assert bits(frame.row(row)) == bits(latest.values())


def test_memory_stays_bounded() -> None:
    values = np.random.default_rng(5).normal(0, 1, (1, 100_000))

    tracemalloc.start()
    try:
        history_frame(values, ["x"], [200], [])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Every window at once would take 100,000 x 200 x 8 bytes = 160 MB.
    assert peak < 40_000_000
