"""The HTTP contract of ``/v1/ml/buffers``: shapes, statuses, headers and errors.

The API's worked examples run here with their exact JSON bodies, against real
servers, and their responses are compared in full, timestamps aside.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.http import Api, Response
from tests.servers import ServerProcess

BUFFERS = "v1/ml/buffers"
CREATED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

SERVER_METRICS = {
    "name": "server_metrics",
    "max_size": 10000,
    "columns": ["cpu", "memory", "disk_io", "network"],
    "rolling_windows": [10, 50, 200],
    "lag_periods": [1, 5, 10],
}
SIMPLE_BUFFER = {"name": "simple_buffer", "columns": ["value"]}
ONE_ROW = {"data": [{"cpu": 45.2, "memory": 62.1, "disk_io": 120, "network": 500}]}
THREE_ROWS = {
    "data": [
        {"cpu": 45.2, "memory": 62.1, "disk_io": 120, "network": 500},
        {"cpu": 47.8, "memory": 63.0, "disk_io": 115, "network": 520},
        {"cpu": 46.1, "memory": 62.5, "disk_io": 118, "network": 510},
    ]
}


def error_body(code: str, message: str) -> dict[str, Any]:
    """Return the JSON error body the server sends for ``code`` and ``message``."""
    return {"error": {"code": code, "message": message}}


def without(model: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Return ``model`` without ``keys``."""
    return {key: value for key, value in model.items() if key not in keys}


def base_path(api: Api) -> str:
    """Return the path of the server's base URL, which ends in ``/``."""
    return urlsplit(api.base_url).path


def metric_rows(count: int, start: int = 0) -> list[dict[str, float]]:
    """Return ``count`` rows for ``server_metrics`` whose ``cpu`` counts up."""
    return [
        {"cpu": float(number), "memory": 1.0, "disk_io": 2.0, "network": 3.0}
        for number in range(start, start + count)
    ]


def fill(api: Api, name: str, rows: list[dict[str, float]]) -> None:
    """Append ``rows`` and check the server accepted them."""
    response = api.append(name, rows)
    assert response.status == 200, response.body


def letter_rows(letters: str) -> list[dict[str, float]]:
    """Return one row per letter, its value the letter's code point."""
    return [{"v": float(ord(letter))} for letter in letters]


def stored_letters(api: Api, name: str) -> str:
    """Return the rows of a ``letter_rows`` buffer as letters, oldest first."""
    return "".join(chr(int(row["v"])) for row in api.data(name).json["data"])


# The worked examples, with their exact request bodies.


def test_example_basic_creation(api: Api) -> None:
    response = api.post(BUFFERS, SERVER_METRICS)

    assert response.status == 201
    assert without(response.json, "created_at", "memory_bytes") == {
        "name": "server_metrics",
        "max_size": 10000,
        "columns": ["cpu", "memory", "disk_io", "network"],
        "rolling_windows": [10, 50, 200],
        "lag_periods": [1, 5, 10],
        "current_size": 0,
    }
    assert CREATED_AT.fullmatch(response.json["created_at"])


def test_example_minimal_creation(api: Api) -> None:
    response = api.post(BUFFERS, SIMPLE_BUFFER)

    assert response.status == 201
    assert without(response.json, "created_at") == {
        "name": "simple_buffer",
        "max_size": 10000,
        "current_size": 0,
        "columns": ["value"],
        "rolling_windows": [],
        "lag_periods": [],
        "memory_bytes": 0,
    }


def test_example_single_row_append(api: Api) -> None:
    api.post(BUFFERS, SERVER_METRICS)

    response = api.post(f"{BUFFERS}/server_metrics/append", ONE_ROW)

    assert response.status == 200
    assert response.json == {"rows_appended": 1, "current_size": 1, "rows_dropped": 0}


def test_example_batch_append(api: Api) -> None:
    api.post(BUFFERS, SERVER_METRICS)
    api.post(f"{BUFFERS}/server_metrics/append", ONE_ROW)

    response = api.post(f"{BUFFERS}/server_metrics/append", THREE_ROWS)

    assert response.status == 200
    assert response.json == {"rows_appended": 3, "current_size": 4, "rows_dropped": 0}


def test_example_read_raw_data(api: Api) -> None:
    api.post(BUFFERS, SERVER_METRICS)
    api.post(f"{BUFFERS}/server_metrics/append", THREE_ROWS)

    response = api.get(f"{BUFFERS}/server_metrics/data")

    assert response.status == 200
    assert response.json == {
        "name": "server_metrics",
        "current_size": 3,
        "columns": ["cpu", "memory", "disk_io", "network"],
        "returned_rows": 3,
        "offset": 0,
        "data": THREE_ROWS["data"],
    }


def test_example_pagination(api: Api) -> None:
    api.post(BUFFERS, SERVER_METRICS)
    fill(api, "server_metrics", metric_rows(250))

    response = api.get(f"{BUFFERS}/server_metrics/data?offset=100&limit=100")

    assert response.status == 200
    assert response.json["returned_rows"] == 100
    assert response.json["offset"] == 100
    assert [row["cpu"] for row in response.json["data"]] == list(range(100, 200))


def test_example_read_latest_rows(api: Api) -> None:
    api.post(BUFFERS, SERVER_METRICS)
    fill(api, "server_metrics", metric_rows(5000))

    response = api.get(f"{BUFFERS}/server_metrics/data?last=10")

    assert response.status == 200
    assert without(response.json, "data", "columns") == {
        "name": "server_metrics",
        "current_size": 5000,
        "returned_rows": 10,
        "offset": 4990,
    }
    assert [row["cpu"] for row in response.json["data"]] == list(range(4990, 5000))


def test_example_sliding_window_progression(api: Api) -> None:
    api.create("window", ["v"], max_size=5)
    steps = [
        ("ABC", 0, "ABC"),
        ("DE", 0, "ABCDE"),
        ("F", 1, "BCDEF"),
        ("GH", 2, "DEFGH"),
    ]

    for letters, dropped, expected in steps:
        response = api.append("window", letter_rows(letters))

        assert response.json == {
            "rows_appended": len(letters),
            "current_size": len(expected),
            "rows_dropped": dropped,
        }
        assert stored_letters(api, "window") == expected


def test_example_sliding_window_response(api: Api) -> None:
    api.create("window", ["v"], max_size=5)
    fill(api, "window", letter_rows("ABCDEF"))

    response = api.append("window", letter_rows("GH"))

    assert response.json == {"rows_appended": 2, "current_size": 5, "rows_dropped": 2}


@pytest.fixture
def monitored(api: Api) -> Api:
    """Two buffers filled as in the memory monitoring example."""
    api.post(BUFFERS, SERVER_METRICS)
    api.post(
        BUFFERS,
        {
            "name": "request_latency",
            "max_size": 5000,
            "columns": ["p50", "p95", "p99"],
            "rolling_windows": [20, 100],
            "lag_periods": [1],
        },
    )
    fill(api, "server_metrics", metric_rows(8542))
    fill(api, "request_latency", [{"p50": 1, "p95": 2, "p99": 3}] * 5200)
    return api


def test_example_monitoring_memory(monitored: Api) -> None:
    response = monitored.get(BUFFERS)

    body = response.json
    body["buffers"] = [without(model, "created_at") for model in body["buffers"]]
    assert body == {
        "buffers": [
            {
                "name": "server_metrics",
                "max_size": 10000,
                "current_size": 8542,
                "columns": ["cpu", "memory", "disk_io", "network"],
                "rolling_windows": [10, 50, 200],
                "lag_periods": [1, 5, 10],
                "memory_bytes": 273344,
            },
            {
                "name": "request_latency",
                "max_size": 5000,
                "current_size": 5000,
                "columns": ["p50", "p95", "p99"],
                "rolling_windows": [20, 100],
                "lag_periods": [1],
                "memory_bytes": 120000,
            },
        ],
        "total_buffers": 2,
        "total_memory_bytes": 393344,
        "reserved_memory_bytes": (10000 * 4 + 5000 * 3) * 8,
        "max_total_memory": None,
    }


def test_example_delete_buffer(monitored: Api) -> None:
    response = monitored.delete(f"{BUFFERS}/server_metrics")

    assert response.status == 200
    assert response.json == {"deleted": "server_metrics", "memory_freed_bytes": 273344}


def test_example_confirming_deletion(api: Api) -> None:
    api.post(BUFFERS, SERVER_METRICS)
    api.delete(f"{BUFFERS}/server_metrics")

    response = api.get(f"{BUFFERS}/server_metrics/data")

    assert response.status == 404
    assert response.json == error_body("not_found", "Buffer 'server_metrics' not found")


def test_example_buffer_not_found(api: Api) -> None:
    response = api.get(f"{BUFFERS}/unknown_buffer")

    assert response.status == 404
    assert response.json == error_body("not_found", "Buffer 'unknown_buffer' not found")


def test_example_duplicate_name(api: Api) -> None:
    api.post(BUFFERS, SERVER_METRICS)

    response = api.post(BUFFERS, SERVER_METRICS)

    assert response.status == 409
    assert response.json == error_body(
        "conflict", "Buffer 'server_metrics' already exists"
    )


def test_example_schema_mismatch(api: Api) -> None:
    api.post(BUFFERS, SERVER_METRICS)

    response = api.append("server_metrics", [{"cpu": 1, "memory": 2, "latency": 3}])

    assert response.status == 400
    assert response.json == error_body(
        "invalid_request",
        "Schema mismatch: buffer expects columns ['cpu', 'memory', 'disk_io', "
        "'network'], got ['cpu', 'memory', 'latency'] (row 0)",
    )


def test_example_invalid_data_type(api: Api) -> None:
    api.post(BUFFERS, SERVER_METRICS)
    row = {"cpu": "high", "memory": 62.1, "disk_io": 120, "network": 500}

    response = api.append("server_metrics", [row])

    assert response.status == 400
    assert response.json == error_body(
        "invalid_request", "Column 'cpu' contains non-numeric value: 'high' (row 0)"
    )


def test_example_empty_data(api: Api) -> None:
    api.post(BUFFERS, SERVER_METRICS)

    response = api.append("server_metrics", [])

    assert response.status == 400
    assert response.json == error_body(
        "invalid_request", "Data array must contain at least one row"
    )


# Create, describe, list and delete.


def test_create_location_header(api: Api) -> None:
    response = api.post(BUFFERS, SIMPLE_BUFFER)

    assert response.headers["location"] == (
        f"{base_path(api)}v1/ml/buffers/simple_buffer"
    )


def test_create_json_content_type(api: Api) -> None:
    response = api.post(BUFFERS, SIMPLE_BUFFER)

    assert response.headers["content-type"] == "application/json"


def test_create_timestamp_is_now(api: Api) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)

    response = api.post(BUFFERS, SIMPLE_BUFFER)

    after = datetime.now(timezone.utc)
    created = datetime.strptime(response.json["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert before <= created.replace(tzinfo=timezone.utc) <= after


def test_create_trailing_slash(api: Api) -> None:
    response = api.post(f"{BUFFERS}/", SIMPLE_BUFFER)

    assert response.status == 201
    assert response.headers["location"] == (
        f"{base_path(api)}v1/ml/buffers/simple_buffer"
    )


def test_get_buffer_model(api: Api) -> None:
    created = api.post(BUFFERS, SERVER_METRICS).json
    fill(api, "server_metrics", metric_rows(3))

    response = api.get(f"{BUFFERS}/server_metrics")

    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json == {
        **SERVER_METRICS,
        "current_size": 3,
        "memory_bytes": 96,
        "created_at": created["created_at"],
    }


def test_model_key_order(api: Api) -> None:
    response = api.post(BUFFERS, SERVER_METRICS)

    assert list(response.json) == [
        "name",
        "max_size",
        "current_size",
        "columns",
        "rolling_windows",
        "lag_periods",
        "memory_bytes",
        "created_at",
    ]


def test_memory_bytes_after_eviction(api: Api) -> None:
    api.create("evicting", ["a", "b", "c"], max_size=7)
    fill(api, "evicting", [{"a": 1, "b": 2, "c": 3}] * 20)

    response = api.get(f"{BUFFERS}/evicting")

    assert response.json["memory_bytes"] == 7 * 3 * 8


def test_list_empty_server(api: Api) -> None:
    response = api.get(BUFFERS)

    assert response.status == 200
    assert response.json == {
        "buffers": [],
        "total_buffers": 0,
        "total_memory_bytes": 0,
        "reserved_memory_bytes": 0,
        "max_total_memory": None,
    }


def test_list_in_creation_order(api: Api) -> None:
    for name in ("charlie", "alpha", "bravo"):
        api.create(name, ["x"])

    response = api.get(BUFFERS)

    assert [model["name"] for model in response.json["buffers"]] == [
        "charlie",
        "alpha",
        "bravo",
    ]


def test_list_total_memory(api: Api) -> None:
    api.create("one", ["x"])
    api.create("two", ["x", "y"])
    fill(api, "one", [{"x": 1}] * 3)
    fill(api, "two", [{"x": 1, "y": 2}] * 5)

    response = api.get(BUFFERS)

    assert response.json["total_buffers"] == 2
    assert response.json["total_memory_bytes"] == 3 * 8 + 5 * 2 * 8


def test_delete_frees_memory(api: Api) -> None:
    api.create("gone", ["x", "y"])
    fill(api, "gone", [{"x": 1, "y": 2}] * 4)

    response = api.delete(f"{BUFFERS}/gone")

    assert response.status == 200
    assert response.json == {"deleted": "gone", "memory_freed_bytes": 64}


def test_delete_removes_from_list(api: Api) -> None:
    api.create("gone", ["x"])
    api.create("kept", ["x"])

    api.delete(f"{BUFFERS}/gone")

    assert [model["name"] for model in api.get(BUFFERS).json["buffers"]] == ["kept"]


def test_delete_twice_404(api: Api) -> None:
    api.create("gone", ["x"])
    api.delete(f"{BUFFERS}/gone")

    response = api.delete(f"{BUFFERS}/gone")

    assert response.status == 404
    assert response.json == error_body("not_found", "Buffer 'gone' not found")


def test_name_reusable_after_delete(api: Api) -> None:
    api.create("again", ["x"])
    fill(api, "again", [{"x": 1}])
    api.delete(f"{BUFFERS}/again")

    response = api.post(BUFFERS, {"name": "again", "columns": ["y"]})

    assert response.status == 201
    assert response.json["current_size"] == 0


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/append"),
        ("GET", "/data"),
        ("GET", "/features"),
    ],
)
def test_unknown_buffer_every_route(api: Api, method: str, suffix: str) -> None:
    response = api.request(method, f"{BUFFERS}/ghost{suffix}", ONE_ROW)

    assert response.status == 404
    assert response.json == error_body("not_found", "Buffer 'ghost' not found")


# Unknown routes and wrong verbs.


@pytest.mark.parametrize(
    "path", ["v1/ml/buffers/x/nope", "v1/ml/other", "v1/ml/buffers/x/y/z", "v1/ml/"]
)
def test_unknown_route_json_404(api: Api, path: str) -> None:
    response = api.get(path)

    assert response.status == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json == error_body(
        "not_found", f"No route for {base_path(api)}{path}"
    )


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_standalone_any_route_404(standalone: ServerProcess, method: str) -> None:
    api = Api(standalone.base_url, standalone.token)

    response = api.request(method, "elsewhere")

    assert response.status == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json == error_body("not_found", "No route for /elsewhere")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "v1/ml/buffers", "GET, POST"),
        ("DELETE", "v1/ml/buffers", "GET, POST"),
        ("PATCH", "v1/ml/buffers/some", "GET, DELETE"),
        ("POST", "v1/ml/buffers/some", "GET, DELETE"),
        ("GET", "v1/ml/buffers/some/append", "POST"),
        ("POST", "v1/ml/buffers/some/data", "GET"),
        ("DELETE", "v1/ml/buffers/some/features", "GET"),
    ],
)
def test_wrong_verb_json_405(api: Api, method: str, path: str, allowed: str) -> None:
    response = api.request(method, path)

    verbs = response.headers["allow"].split(", ")
    assert response.status == 405
    assert [verb for verb in verbs if verb != "OPTIONS"] == allowed.split(", ")
    assert response.headers["content-type"] == "application/json"
    assert response.json == error_body(
        "method_not_allowed",
        f"Method {method} is not allowed on {base_path(api)}{path}: "
        f"use {' or '.join(verbs)}",
    )


# Data: paging, newest rows and the query rules.


@pytest.fixture
def counted(api: Api) -> Api:
    """A buffer ``counted`` of max_size 10 holding x = 5..14 after eviction."""
    api.create("counted", ["x", "y"], max_size=10)
    fill(api, "counted", [{"x": n, "y": -n} for n in range(15)])
    return api


def read(api: Api, query: str) -> Response:
    """Read the ``counted`` buffer with ``query``."""
    return api.data("counted", query)


def xs(response: Response) -> list[float]:
    """Return the ``x`` values of a data response, in order."""
    return [row["x"] for row in response.json["data"]]


def test_data_all_rows(counted: Api) -> None:
    response = read(counted, "")

    assert response.json == {
        "name": "counted",
        "current_size": 10,
        "columns": ["x", "y"],
        "returned_rows": 10,
        "offset": 0,
        "data": [{"x": float(n), "y": float(-n)} for n in range(5, 15)],
    }


def test_data_key_order(counted: Api) -> None:
    response = read(counted, "?last=1")

    assert list(response.json) == [
        "name",
        "current_size",
        "columns",
        "returned_rows",
        "offset",
        "data",
    ]


def test_data_offset_and_limit(counted: Api) -> None:
    response = read(counted, "?offset=2&limit=3")

    assert response.json["offset"] == 2
    assert response.json["returned_rows"] == 3
    assert xs(response) == [7.0, 8.0, 9.0]


def test_data_offset_only(counted: Api) -> None:
    response = read(counted, "?offset=7")

    assert xs(response) == [12.0, 13.0, 14.0]


def test_data_limit_only(counted: Api) -> None:
    response = read(counted, "?limit=2")

    assert response.json["offset"] == 0
    assert xs(response) == [5.0, 6.0]


def test_data_limit_past_end(counted: Api) -> None:
    response = read(counted, "?offset=8&limit=100")

    assert response.json["returned_rows"] == 2
    assert xs(response) == [13.0, 14.0]


def test_data_limit_zero(counted: Api) -> None:
    response = read(counted, "?offset=3&limit=0")

    assert response.json["returned_rows"] == 0
    assert response.json["offset"] == 3
    assert response.json["data"] == []


def test_data_offset_at_end(counted: Api) -> None:
    response = read(counted, "?offset=10")

    assert response.json["returned_rows"] == 0
    assert response.json["offset"] == 10
    assert response.json["data"] == []


def test_data_offset_past_end(counted: Api) -> None:
    response = read(counted, "?offset=25&limit=5")

    assert response.status == 200
    assert response.json["returned_rows"] == 0
    assert response.json["offset"] == 25
    assert response.json["data"] == []


def test_data_last_rows(counted: Api) -> None:
    response = read(counted, "?last=3")

    assert response.json["offset"] == 7
    assert response.json["returned_rows"] == 3
    assert xs(response) == [12.0, 13.0, 14.0]


def test_data_last_beyond_size(counted: Api) -> None:
    response = read(counted, "?last=500")

    assert response.json["offset"] == 0
    assert response.json["returned_rows"] == 10
    assert xs(response) == [float(n) for n in range(5, 15)]


def test_data_last_zero(counted: Api) -> None:
    response = read(counted, "?last=0")

    assert response.json["returned_rows"] == 0
    assert response.json["offset"] == 10
    assert response.json["data"] == []


def test_data_empty_buffer(api: Api) -> None:
    api.create("empty", ["x"])

    response = api.data("empty", "?last=5")

    assert response.json == {
        "name": "empty",
        "current_size": 0,
        "columns": ["x"],
        "returned_rows": 0,
        "offset": 0,
        "data": [],
    }


def test_data_values_round_trip(api: Api) -> None:
    values = [0.1, 1e-300, 5e-324, 1.7976931348623157e308, -2.5, 1 / 3, 1e16]
    api.create("exact", ["x"])
    fill(api, "exact", [{"x": value} for value in values])

    response = api.data("exact")

    assert [row["x"] for row in response.json["data"]] == values


def test_data_large_read(api: Api) -> None:
    api.create("large", ["x"], max_size=20_000)
    fill(api, "large", [{"x": n} for n in range(12_000)])

    response = api.data("large", "?last=10000")

    assert response.json["returned_rows"] == 10_000
    assert xs(response) == [float(n) for n in range(2000, 12_000)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "?last=2&offset=1",
            "Use either 'last' or 'offset'/'limit', not both: 'last' already "
            "selects the newest rows",
        ),
        (
            "?last=2&limit=1",
            "Use either 'last' or 'offset'/'limit', not both: 'last' already "
            "selects the newest rows",
        ),
        (
            "?offset=abc",
            "Query parameter 'offset' must be a non-negative integer, got 'abc'",
        ),
        (
            "?limit=1.5",
            "Query parameter 'limit' must be a non-negative integer, got '1.5'",
        ),
        ("?last=-1", "Query parameter 'last' must be a non-negative integer, got '-1'"),
        ("?offset=", "Query parameter 'offset' must be a non-negative integer, got ''"),
        (
            "?last=1e2",
            "Query parameter 'last' must be a non-negative integer, got '1e2'",
        ),
        (
            "?limit=%2B3",
            "Query parameter 'limit' must be a non-negative integer, got '+3'",
        ),
        ("?offset=1&offset=2", "Query parameter 'offset' is given more than once"),
    ],
)
def test_data_bad_query_400(counted: Api, query: str, message: str) -> None:
    response = read(counted, query)

    assert response.status == 400
    assert response.json == error_body("invalid_request", message)


def test_data_unknown_parameter_400(counted: Api) -> None:
    response = read(counted, "?page=2")

    message = response.json["error"]["message"]
    assert response.status == 400
    assert response.json["error"]["code"] == "invalid_request"
    assert message.startswith(
        "Unknown query parameter 'page': valid parameters are 'offset', 'limit', 'last'"
    )


# Every response is JSON.


def test_error_json_content_type(api: Api) -> None:
    response = api.get(f"{BUFFERS}/ghost")

    assert response.headers["content-type"] == "application/json"


def test_append_json_content_type(api: Api) -> None:
    api.create("typed", ["x"])

    response = api.append("typed", [{"x": 1}])

    assert response.headers["content-type"] == "application/json"


def test_data_json_content_type(api: Api) -> None:
    api.create("typed", ["x"])

    response = api.data("typed")

    assert response.headers["content-type"] == "application/json"


def test_created_at_stays_fixed(api: Api) -> None:
    created = api.post(BUFFERS, SIMPLE_BUFFER).json["created_at"]
    fill(api, "simple_buffer", [{"value": 1}])

    model = api.get(f"{BUFFERS}/simple_buffer").json

    assert model["created_at"] == created
