"""The size limit of one feature history request, and the header that states it."""

from __future__ import annotations

import io
import time

import numpy as np
import polars as pl
import pytest

from bufferkit.query import MAX_HISTORY_VALUES
from tests.http import Api

BUFFERS = "v1/ml/buffers"
HEADER = "x-bufferkit-max-history-rows"
ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}
#: Four columns, three windows and three lags: 4 x (3 x 4 + 3 x 2) = 72 features.
WIDE = {"rolling_windows": [10, 50, 200], "lag_periods": [1, 5, 10]}
COLUMNS = ["cpu", "memory", "disk_io", "network"]


def fill(api: Api, name: str, columns: list[str], rows: int) -> None:
    """Append ``rows`` rows of random values to ``name`` as one Arrow stream."""
    generator = np.random.default_rng(7)
    frame = pl.DataFrame({column: generator.random(rows) for column in columns})
    sink = io.BytesIO()
    frame.write_ipc_stream(sink)
    response = api.request(
        "POST", f"{BUFFERS}/{name}/append", raw=sink.getvalue(), headers=ARROW
    )
    assert response.status == 200, response.body


def limit_message(rows: int, features: int) -> str:
    """Return the message of a history request of ``rows`` rows over the limit."""
    max_rows = MAX_HISTORY_VALUES // features
    return (
        f"Feature history of {rows} rows x {features} features is "
        f"{rows * features} values, over the limit of {MAX_HISTORY_VALUES} values "
        f"per request: select at most {max_rows} rows per request for this buffer, "
        "paging with 'offset' and 'limit' or using 'last'"
    )


def test_header_on_every_history_response(api: Api) -> None:
    api.create("h", ["x", "y"], rolling_windows=[2], lag_periods=[1])
    api.create("bare", ["x"])
    api.append("h", [{"x": 1, "y": 2}, {"x": 3, "y": 4}])
    history = f"{BUFFERS}/h/features/history"

    for query in ("", "?last=1", "?format=csv", "?format=arrow", "?offset=9"):
        response = api.get(history + query)
        assert response.status == 200
        assert response.headers[HEADER] == str(MAX_HISTORY_VALUES // 12), query
    response = api.get(history + "?format=xml")
    assert response.status == 400
    assert response.headers[HEADER] == str(MAX_HISTORY_VALUES // 12)
    assert api.get(f"{BUFFERS}/bare/features/history").headers[HEADER] == str(
        MAX_HISTORY_VALUES
    )
    assert HEADER not in api.get(f"{BUFFERS}/h/data").headers


def test_page_over_the_limit_is_400_before_any_work(api: Api) -> None:
    # 100 columns x 50 windows x 4 statistics: 20,000 features, 500 rows a request.
    columns = [f"c{index}" for index in range(100)]
    api.create("big", columns, max_size=1000, rolling_windows=list(range(2, 52)))
    fill(api, "big", columns, 600)
    history = f"{BUFFERS}/big/features/history"

    for query, rows in (("", 600), ("?offset=0&limit=501", 501), ("?last=501", 501)):
        response = api.get(history + query)
        assert response.status == 400, query
        assert response.json["error"] == {
            "code": "invalid_request",
            "message": limit_message(rows, 20_000),
        }
        assert response.headers[HEADER] == "500"
    response = api.get(history + "?offset=590&limit=600")
    assert response.status == 200
    assert response.json["returned_rows"] == 10


def test_million_rows_answer_400_at_once(api: Api) -> None:
    api.create("huge", COLUMNS, max_size=1_000_000, **WIDE)
    fill(api, "huge", COLUMNS, 1_000_000)

    started = time.monotonic()
    response = api.get(f"{BUFFERS}/huge/features/history")
    elapsed = time.monotonic() - started

    assert response.status == 400
    assert response.json["error"]["message"] == limit_message(1_000_000, 72)
    assert response.headers[HEADER] == "138888"
    assert elapsed < 1.0


@pytest.mark.parametrize("response_format", ["json", "arrow"])
def test_hundred_thousand_rows_of_72_features_in_one_call(
    api: Api, response_format: str
) -> None:
    api.create("wide", COLUMNS, max_size=100_000, **WIDE)
    fill(api, "wide", COLUMNS, 100_000)

    response = api.get(f"{BUFFERS}/wide/features/history?format={response_format}")

    assert response.status == 200
    if response_format == "json":
        page = response.json
        assert page["returned_rows"] == 100_000
        assert len(page["columns"]) == 72
    else:
        assert pl.read_ipc_stream(io.BytesIO(response.body)).shape == (100_000, 72)
