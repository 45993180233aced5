"""Column names beyond identifiers: quotes, backslashes, spaces, non-ASCII, emoji.

Every append format, every read format and the features work with them on both
hosts; names msgspec cannot take as struct fields skip the typed fast path and the
validator decodes them. Control characters are rejected when the buffer is created.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import polars as pl
import pytest

from tests.http import Api, Response

BUFFERS = "v1/ml/buffers"
NAMES = ['q"x', "a\\b", 'mix "\\ end', "café", "a b", "\U0001f600", "x_rolling_mean_2"]


def post(api: Api, name: str, body: bytes, content_type: str) -> Response:
    """POST ``body`` as is to the append route of ``name``."""
    return api.request(
        "POST",
        f"{BUFFERS}/{name}/append",
        raw=body,
        headers={"Content-Type": content_type},
    )


def ipc(frame: pl.DataFrame, *, file: bool) -> bytes:
    """Return ``frame`` as an Arrow IPC file or stream."""
    sink = io.BytesIO()
    if file:
        frame.write_ipc(sink)
    else:
        frame.write_ipc_stream(sink)
    return sink.getvalue()


@pytest.mark.parametrize("column", NAMES)
def test_every_append_and_read_works(api: Api, column: str) -> None:
    api.create("odd", [column, "y"], rolling_windows=[2], lag_periods=[1])
    appends: list[Any] = [
        {"data": [{column: 1, "y": 10}]},
        {"data": [{column: 2, "y": 20}, {"y": 30, column: 3}]},
        {"columns": {column: [4, 5], "y": [40, 50]}},
    ]
    for body in appends:
        response = api.post(f"{BUFFERS}/odd/append", body)
        assert response.status == 200, response.body
    frame = pl.DataFrame({"y": [60.0], column: [6.0]})
    for file in (False, True):
        response = post(
            api, "odd", ipc(frame, file=file), "application/vnd.apache.arrow.stream"
        )
        assert response.status == 200, response.body

    data = api.data("odd").json
    assert data["columns"] == [column, "y"]
    assert [row[column] for row in data["data"]] == [1, 2, 3, 4, 5, 6, 6]
    assert api.data("odd", "?format=columns").json["data"] == {
        column: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0],
        "y": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 60.0],
    }
    parquet = api.data("odd", "?format=parquet").body
    assert pl.read_parquet(io.BytesIO(parquet)).columns == [column, "y"]
    text = api.data("odd", "?format=csv").body.decode()
    assert next(csv.reader(io.StringIO(text))) == [column, "y"]

    features = api.get(f"{BUFFERS}/odd/features").json["features"]
    assert features[f"{column}_rolling_mean_2"] == 6.0
    assert features[f"{column}_lag_1"] == 6.0
    history = api.get(f"{BUFFERS}/odd/features/history?last=1").json
    assert history["data"] == [features]


@pytest.mark.parametrize("column", NAMES)
def test_wrong_and_repeated_keys_are_named(api: Api, column: str) -> None:
    api.create("odd", [column, "y"])
    shown = repr(column)

    response = api.post(f"{BUFFERS}/odd/append", {"data": [{"z": 1, "y": 2}]})
    assert response.status == 400
    assert response.json["error"]["message"] == (
        f"Schema mismatch: buffer expects columns [{shown}, 'y'], "
        "got ['z', 'y'] (row 0)"
    )
    key = json.dumps(column, ensure_ascii=False)
    for raw in (
        f'{{"data": [{{{key}: 1, {key}: 2, "y": 3}}]}}',
        f'{{"data": [{{{key}: 1, "y": 3}}, {{{key}: 1, {key}: 2, "y": 3}}]}}',
        f'{{"columns": {{{key}: [1], {key}: [2], "y": [3]}}}}',
    ):
        response = post(api, "odd", raw.encode(), "application/json")
        assert response.status == 400, raw
        assert response.json["error"]["message"] == (
            f"Duplicate key {shown} in a JSON object of the request body: "
            "send each key once"
        )
    response = api.post(f"{BUFFERS}/odd/append", {"data": [{column: "hi", "y": 2}]})
    assert response.json["error"]["message"] == (
        f"Column {shown} contains non-numeric value: 'hi' (row 0)"
    )
    assert api.get(f"{BUFFERS}/odd").json["current_size"] == 0


@pytest.mark.parametrize("column", ["a\nb", "\x00", "tab\there", "x\x7f", "\x1f"])
def test_control_characters_are_rejected_at_create(api: Api, column: str) -> None:
    response = api.post(BUFFERS, {"name": "ctl", "columns": ["ok", column]})

    assert response.status == 400
    assert response.json["error"] == {
        "code": "invalid_request",
        "message": f"Invalid column name {column!r}: column names must not contain "
        "control characters (U+0000 to U+001F, U+007F)",
    }
    assert api.get(f"{BUFFERS}/ctl").status == 404


@pytest.mark.parametrize("column", ["\ud800", "x\udfff", "\udc00y"])
def test_lone_surrogates_are_rejected_at_create(api: Api, column: str) -> None:
    response = api.post(BUFFERS, {"name": "sur", "columns": [column]})

    assert response.status == 400
    assert response.json["error"] == {
        "code": "invalid_request",
        "message": f"Invalid column name {column!r}: column names must be valid "
        "Unicode text, without lone UTF-16 surrogates (U+D800 to U+DFFF)",
    }
    assert api.get(f"{BUFFERS}/sur").status == 404
    assert api.get(BUFFERS).status == 200
