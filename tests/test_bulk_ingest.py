"""Bulk appends: columnar JSON bodies and Arrow IPC streams, all or nothing."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from tests.http import Api, Response

BUFFERS = "v1/ml/buffers"
ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}
#: The rows every test buffer starts with, which a rejected body must leave alone.
START = [{"x": 1.0, "y": 10.0}, {"x": 2.0, "y": 20.0}]


@pytest.fixture
def held(api: Api) -> Api:
    """A buffer ``bulk`` of columns ``x`` and ``y`` holding the rows ``START``."""
    api.create("bulk", ["x", "y"], max_size=5)
    assert api.append("bulk", START).status == 200
    return api


def append_raw(
    api: Api, body: bytes, headers: dict[str, str] | None = None
) -> Response:
    """POST ``body`` as is to the ``bulk`` buffer's append route."""
    return api.request(
        "POST", f"{BUFFERS}/bulk/append", raw=body, headers=headers or {}
    )


def arrow_bytes(frame: pl.DataFrame) -> bytes:
    """Return ``frame`` written as an Arrow IPC stream."""
    sink = io.BytesIO()
    frame.write_ipc_stream(sink)
    return sink.getvalue()


def rows_of(api: Api) -> list[dict[str, Any]]:
    """Return every row the ``bulk`` buffer holds."""
    rows: list[dict[str, Any]] = api.data("bulk").json["data"]
    return rows


def assert_rejected(api: Api, response: Response, message: str) -> None:
    """Check a 400 with exactly ``message``, and that nothing was stored."""
    assert response.status == 400, response.body
    assert response.json == {"error": {"code": "invalid_request", "message": message}}
    assert api.get(f"{BUFFERS}/bulk").json["current_size"] == len(START)
    assert rows_of(api) == START


# Columnar JSON


def test_columns_append_any_order(held: Api) -> None:
    response = held.post(
        f"{BUFFERS}/bulk/append", {"columns": {"y": [30, 40.5], "x": [3, 2**70]}}
    )

    assert response.json == {"rows_appended": 2, "current_size": 4, "rows_dropped": 0}
    assert rows_of(held)[2:] == [
        {"x": 3.0, "y": 30.0},
        {"x": float(2**70), "y": 40.5},
    ]


def test_columns_append_evicts(held: Api) -> None:
    values = list(range(7))

    response = held.post(
        f"{BUFFERS}/bulk/append", {"columns": {"x": values, "y": values}}
    )

    assert response.json == {"rows_appended": 7, "current_size": 5, "rows_dropped": 4}
    assert [row["x"] for row in rows_of(held)] == [2.0, 3.0, 4.0, 5.0, 6.0]


SCHEMA = "Schema mismatch: buffer expects columns ['x', 'y'], got "


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"columns": {"x": [1, "high"], "y": [1, 2]}}',
            "Column 'x' contains non-numeric value: 'high' (row 1)",
        ),
        (
            b'{"columns": {"x": [1, 2], "y": [true, 2]}}',
            "Column 'y' contains non-numeric value: true (row 0)",
        ),
        (
            b'{"columns": {"x": [1, null], "y": [1, 2]}}',
            "Column 'x' contains non-numeric value: null (row 1)",
        ),
        (
            b'{"columns": {"x": [1, [2]], "y": [1, 2]}}',
            "Column 'x' contains non-numeric value: [2] (row 1)",
        ),
        (
            b'{"columns": {"x": [1, 1e400], "y": [1, 2]}}',
            "Column 'x' contains a number too large for float64 (row 1): values "
            "must be finite, below 1.8e308 in magnitude",
        ),
        (
            b'{"columns": {"x": [NaN], "y": [1]}}',
            "Request body is not valid JSON: NaN is not a JSON number; send "
            "finite numbers only",
        ),
        (
            b'{"columns": {"x": [-Infinity], "y": [1]}}',
            "Request body is not valid JSON: -Infinity is not a JSON number; send "
            "finite numbers only",
        ),
        (b'{"columns": {"x": [1]}}', SCHEMA + "['x']"),
        (b'{"columns": {"x": [1], "y": [2], "z": [3]}}', SCHEMA + "['x', 'y', 'z']"),
        (
            b'{"columns": {"x": [1, 2], "y": [1]}}',
            "Columns must have equal lengths: 'x' has 2 values, 'y' has 1",
        ),
        (
            b'{"columns": {"x": [], "y": []}}',
            "Columns must contain at least one row",
        ),
        (
            b'{"columns": [1, 2]}',
            "'columns' must be an object of column arrays, got [1, 2]",
        ),
        (
            b'{"columns": {"x": 1, "y": [1]}}',
            "Column 'x' must be an array of values, got 1",
        ),
        (
            b'{"columns": {"x": [1], "y": [1]}, "data": []}',
            "Unknown key 'data' in the request body: send only \"columns\", an "
            "object of column arrays",
        ),
    ],
)
def test_columns_bad_body_stores_nothing(held: Api, body: bytes, message: str) -> None:
    assert_rejected(held, append_raw(held, body), message)


# Arrow IPC streams


def test_arrow_append_casts_numbers(held: Api) -> None:
    frame = pl.DataFrame(
        {
            "y": pl.Series([3, 4], dtype=pl.Int32),
            "x": pl.Series([0.5, 1.5], dtype=pl.Float32),
        }
    )

    response = append_raw(held, arrow_bytes(frame), ARROW)

    assert response.json == {"rows_appended": 2, "current_size": 4, "rows_dropped": 0}
    assert rows_of(held)[2:] == [{"x": 0.5, "y": 3.0}, {"x": 1.5, "y": 4.0}]


def test_arrow_append_many_batches(held: Api) -> None:
    first = pl.DataFrame({"x": [3.0], "y": [30.0]})
    second = pl.DataFrame({"x": [4.0, 5.0], "y": [40.0, 50.0]})
    frame = pl.concat([first, second], rechunk=False)

    response = append_raw(held, arrow_bytes(frame), ARROW)

    assert frame.n_chunks() == 2
    assert response.json["rows_appended"] == 3
    assert [row["x"] for row in rows_of(held)] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_arrow_append_decimal_and_unsigned(held: Api) -> None:
    frame = pl.DataFrame(
        {
            "x": pl.Series([Decimal("1.25")], dtype=pl.Decimal(10, 2)),
            "y": pl.Series([2**63], dtype=pl.UInt64),
        }
    )

    response = append_raw(
        held, arrow_bytes(frame), {"Content-Type": ARROW["Content-Type"] + "; v=1"}
    )

    assert response.status == 200, response.body
    assert rows_of(held)[-1] == {"x": 1.25, "y": float(2**63)}


def stream_of(**columns: Any) -> bytes:
    """Return an Arrow stream of the given columns."""
    return arrow_bytes(pl.DataFrame(columns))


WHOLE = arrow_bytes(pl.DataFrame({"x": [3.0, 4.0], "y": [5.0, 6.0]}))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            stream_of(x=[3.0, None], y=[1.0, 2.0]),
            "Column 'x' contains null (row 1): values must be finite numbers",
        ),
        (
            stream_of(x=[3.0, 4.0], y=[float("nan"), 2.0]),
            "Column 'y' contains non-finite value: NaN (row 0): values must be "
            "finite numbers",
        ),
        (
            stream_of(x=[3.0, float("-inf")], y=[1.0, 2.0]),
            "Column 'x' contains non-finite value: -Infinity (row 1): values must "
            "be finite numbers",
        ),
        (
            stream_of(x=["high"], y=[1.0]),
            "Column 'x' has the non-numeric type String: send integer or "
            "floating-point columns",
        ),
        (
            stream_of(x=[1.0], y=[True]),
            "Column 'y' has the non-numeric type Boolean: send integer or "
            "floating-point columns",
        ),
        (stream_of(x=[1.0]), SCHEMA + "['x']"),
        (stream_of(x=[1.0], y=[2.0], z=[3.0]), SCHEMA + "['x', 'y', 'z']"),
        (
            arrow_bytes(pl.DataFrame(schema={"x": pl.Float64, "y": pl.Float64})),
            "Arrow stream must contain at least one row",
        ),
        (
            WHOLE[:-8],
            "Request body is not a complete Arrow IPC stream: it does not end with "
            "the end-of-stream marker",
        ),
        (
            b"",
            "Request body is not a complete Arrow IPC stream: it does not end with "
            "the end-of-stream marker",
        ),
    ],
)
def test_arrow_bad_body_stores_nothing(held: Api, body: bytes, message: str) -> None:
    assert_rejected(held, append_raw(held, body, ARROW), message)


def test_arrow_corrupt_bytes_400(held: Api) -> None:
    body = b"\x00" * 64 + WHOLE[-8:]

    response = append_raw(held, body, ARROW)

    assert response.status == 400
    assert response.json["error"]["message"].startswith(
        "Request body is not a valid Arrow IPC stream: "
    )
    assert rows_of(held) == START


def test_arrow_body_as_json_400(held: Api) -> None:
    response = append_raw(held, WHOLE)

    assert response.status == 400
    assert response.json["error"]["message"].startswith(
        "Request body is not valid JSON"
    )
    assert rows_of(held) == START
