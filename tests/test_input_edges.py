"""Bodies and queries at the edges: repeated keys, huge numbers, long integers."""

from __future__ import annotations

import pytest

from tests.http import Api

BUFFERS = "v1/ml/buffers"


@pytest.fixture
def seeded(api: Api) -> Api:
    """A server holding the buffer ``edges`` of columns ``x`` and ``y``."""
    api.create("edges", ["x", "y"])
    return api


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"data": [{"x": 1, "y": 2, "x": 3}]}', "x"),
        (b'{"data": [{"x": 1, "y": 2}, {"y": 1, "x": 2, "y": 5}]}', "y"),
        (b'{"data": [{"x": 1, "y": 2}], "data": [{"x": 1, "y": 2}]}', "data"),
        (b'{"columns": {"x": [1], "y": [2], "x": [3]}}', "x"),
        (b'{"data": [{"x": 1, "y": 2, "\\u0078": 3}]}', "x"),
    ],
)
def test_append_repeated_key_400(seeded: Api, raw: bytes, key: str) -> None:
    response = seeded.post(f"{BUFFERS}/edges/append", raw=raw)

    assert response.status == 400
    assert response.json["error"]["message"] == (
        f"Duplicate key {key!r} in a JSON object of the request body: "
        "send each key once"
    )
    assert seeded.data("edges").json["current_size"] == 0


def test_append_escaped_keys_accepted(seeded: Api) -> None:
    raw = b'{"data": [{"\\u0078": 1, "y": 2}, {"x": 3, "\\u0079": 4}]}'

    response = seeded.post(f"{BUFFERS}/edges/append", raw=raw)

    assert response.status == 200
    assert seeded.data("edges").json["data"] == [
        {"x": 1.0, "y": 2.0},
        {"x": 3.0, "y": 4.0},
    ]


def test_create_repeated_key_400(api: Api) -> None:
    raw = b'{"name": "first", "columns": ["x"], "name": "second"}'

    response = api.post(BUFFERS, raw=raw)

    assert response.status == 400
    assert "Duplicate key 'name'" in response.json["error"]["message"]
    assert api.get(BUFFERS).json["total_buffers"] == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1e400", "max_size must be an integer, got 1e400"),
        ("-1E+999", "max_size must be an integer, got -1E+999"),
        ("2.5", "max_size must be an integer, got 2.5"),
    ],
)
def test_create_number_named_as_sent(api: Api, text: str, message: str) -> None:
    raw = b'{"name": "n", "columns": ["x"], "max_size": %s}' % text.encode()

    response = api.post(BUFFERS, raw=raw)

    assert response.status == 400
    assert response.json["error"]["message"] == message


def test_create_window_named_as_sent(api: Api) -> None:
    raw = b'{"name": "n", "columns": ["x"], "rolling_windows": [1e999]}'

    response = api.post(BUFFERS, raw=raw)

    assert response.json["error"]["message"] == (
        "rolling_windows must contain integers, got 1e999"
    )


@pytest.mark.parametrize("parameter", ["offset", "limit", "last"])
def test_data_integer_too_large_400(seeded: Api, parameter: str) -> None:
    response = seeded.data("edges", f"?{parameter}=1234567890123456789")

    assert response.status == 400
    assert response.json["error"]["message"] == (
        f"Query parameter {parameter!r} is too large, got '1234567890123456789': "
        "use at most 999999999999999999"
    )


def test_data_largest_integers_accepted(seeded: Api) -> None:
    seeded.append("edges", [{"x": 1, "y": 2}])

    paged = seeded.data("edges", "?offset=999999999999999999&limit=999999999999999999")
    newest = seeded.data("edges", "?last=0000000000000000000000000000001")

    assert paged.status == 200
    assert paged.json["offset"] == 999999999999999999
    assert paged.json["returned_rows"] == 0
    assert newest.json["returned_rows"] == 1
