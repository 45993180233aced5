"""Response formats of /data and /features/history: JSON, columns and files."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.http import Api, Response

BUFFERS = "v1/ml/buffers"
#: Values whose text forms are easy to get wrong: a sum with rounding error, the
#: largest and smallest magnitudes, a negative zero and a 17-digit fraction.
AWKWARD = [0.1 + 0.2, 1e308, -1.7e308, 5e-324, -0.0, 1e9 + 1e-6, 2.0**53 + 2]
READERS: dict[str, Callable[[bytes, dict[str, Any]], pl.DataFrame]] = {
    "csv": lambda body, schema: pl.read_csv(io.BytesIO(body), schema=schema),
    "parquet": lambda body, _: pl.read_parquet(io.BytesIO(body)),
    "arrow": lambda body, _: pl.read_ipc_stream(io.BytesIO(body)),
}
FILES = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
    "arrow": ("application/vnd.apache.arrow.stream", "arrows"),
}


@pytest.fixture
def filled(api: Api) -> Api:
    """A buffer ``mixed`` of columns ``a`` and ``b`` holding awkward values."""
    api.create("mixed", ["a", "b"], rolling_windows=[2, 3], lag_periods=[1])
    rows = [{"a": value, "b": float(index)} for index, value in enumerate(AWKWARD)]
    assert api.append("mixed", rows).status == 200
    return api


def read(api: Api, path: str, query: str = "") -> Response:
    """GET ``path`` under the buffers and check it succeeded."""
    response = api.get(f"{BUFFERS}/{path}{query}")
    assert response.status == 200, response.body
    return response


def json_frame(rows: list[dict[str, Any]], columns: list[str]) -> pl.DataFrame:
    """Build the float64 frame of JSON row objects."""
    return pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.Float64))


# /data


@pytest.mark.parametrize("file_format", sorted(FILES))
def test_data_file_round_trip(filled: Api, file_format: str) -> None:
    expected = read(filled, "mixed/data").json

    response = read(filled, "mixed/data", f"?format={file_format}")

    content_type, extension = FILES[file_format]
    schema = dict.fromkeys(["a", "b"], pl.Float64)
    frame = READERS[file_format](response.body, schema)
    assert response.headers["content-type"] == content_type
    assert response.headers["content-disposition"] == (
        f'attachment; filename="mixed.{extension}"'
    )
    assert_frame_equal(
        frame, json_frame(expected["data"], ["a", "b"]), check_exact=True
    )


@pytest.mark.parametrize("file_format", sorted(FILES))
def test_data_file_newest_rows(filled: Api, file_format: str) -> None:
    expected = read(filled, "mixed/data", "?last=3").json

    response = read(filled, "mixed/data", f"?last=3&format={file_format}")

    schema = dict.fromkeys(["a", "b"], pl.Float64)
    frame = READERS[file_format](response.body, schema)
    assert frame.height == 3
    assert_frame_equal(
        frame, json_frame(expected["data"], ["a", "b"]), check_exact=True
    )


@pytest.mark.parametrize("file_format", sorted(FILES))
def test_data_file_empty_page(filled: Api, file_format: str) -> None:
    response = read(filled, "mixed/data", f"?offset=100&format={file_format}")

    schema = dict.fromkeys(["a", "b"], pl.Float64)
    frame = READERS[file_format](response.body, schema)
    assert frame.columns == ["a", "b"]
    assert frame.height == 0


def test_data_csv_text(api: Api) -> None:
    api.create("small", ["x", "y"])
    api.append("small", [{"x": 1, "y": 0.5}, {"x": -2.25, "y": 1e-7}])

    response = read(api, "small/data", "?format=csv")

    assert response.body == b"x,y\n1.0,0.5\n-2.25,1e-7\n"


def test_data_columns_shape(api: Api) -> None:
    api.create("cols", ["x", "y"])
    api.append("cols", [{"x": 1, "y": 2}, {"x": 3, "y": 4}, {"x": 5, "y": 6}])

    response = read(api, "cols/data", "?last=2&format=columns")

    assert response.headers["content-type"] == "application/json"
    assert "content-disposition" not in response.headers
    assert response.json == {
        "name": "cols",
        "current_size": 3,
        "columns": ["x", "y"],
        "returned_rows": 2,
        "offset": 1,
        "data": {"x": [3.0, 5.0], "y": [4.0, 6.0]},
    }


def test_data_columns_round_trip(filled: Api) -> None:
    rows = read(filled, "mixed/data").json["data"]

    columns = read(filled, "mixed/data", "?format=columns").json["data"]

    assert columns == {"a": [row["a"] for row in rows], "b": [row["b"] for row in rows]}


def test_data_json_explicit_is_default(filled: Api) -> None:
    default = read(filled, "mixed/data")

    explicit = read(filled, "mixed/data", "?format=json")

    assert explicit.body == default.body
    assert explicit.headers["content-type"] == "application/json"


# /features/history


@pytest.mark.parametrize("file_format", sorted(FILES))
def test_history_file_round_trip(filled: Api, file_format: str) -> None:
    expected = read(filled, "mixed/features/history").json

    response = read(filled, "mixed/features/history", f"?format={file_format}")

    content_type, extension = FILES[file_format]
    schema = dict.fromkeys(expected["columns"], pl.Float64)
    frame = READERS[file_format](response.body, schema)
    assert response.headers["content-type"] == content_type
    assert response.headers["content-disposition"] == (
        f'attachment; filename="mixed-features.{extension}"'
    )
    assert frame.null_count().row(0)[0] > 0
    assert_frame_equal(
        frame, json_frame(expected["data"], expected["columns"]), check_exact=True
    )


def test_history_columns_shape(filled: Api) -> None:
    rows = read(filled, "mixed/features/history", "?offset=5").json

    reply = read(filled, "mixed/features/history", "?offset=5&format=columns").json

    assert {key: reply[key] for key in reply if key != "data"} == {
        key: rows[key] for key in rows if key != "data"
    }
    assert list(reply["data"]) == rows["columns"]
    for name, values in reply["data"].items():
        assert values == [row[name] for row in rows["data"]]


# Bad formats


@pytest.mark.parametrize("path", ["data", "features/history"])
def test_unknown_format_400(filled: Api, path: str) -> None:
    response = filled.get(f"{BUFFERS}/mixed/{path}?format=xml")

    assert response.status == 400
    assert response.json == {
        "error": {
            "code": "invalid_request",
            "message": "Unknown format 'xml': valid formats are 'json', 'columns', "
            "'csv', 'parquet', 'arrow'",
        }
    }


def test_repeated_format_400(filled: Api) -> None:
    response = filled.get(f"{BUFFERS}/mixed/data?format=csv&format=json")

    assert response.status == 400
    assert response.json["error"]["message"] == (
        "Query parameter 'format' is given more than once"
    )


def test_format_name_case_sensitive(filled: Api) -> None:
    response = filled.get(f"{BUFFERS}/mixed/data?format=CSV")

    assert response.status == 400
    assert response.json["error"]["message"].startswith("Unknown format 'CSV'")
