"""Validation of create and append requests: exact errors, and nothing changes.

Every rejected request is followed by a check that the server's state is the same
as before it: the same buffers, sizes and rows.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.http import Api, Response

BUFFERS = "v1/ml/buffers"
APPEND = "v1/ml/buffers/metrics/append"
SEEDED_ROWS = [{"cpu": 1.5, "memory": 10.0}, {"cpu": 2.5, "memory": 20.0}]


def invalid(message: str) -> dict[str, Any]:
    """Return the error body of a 400 response with ``message``."""
    return {"error": {"code": "invalid_request", "message": message}}


def server_state(api: Api) -> list[tuple[dict[str, Any], Any]]:
    """Return every buffer's model and rows, to compare before and after."""
    return [
        (model, api.data(model["name"]).json)
        for model in api.get(BUFFERS).json["buffers"]
    ]


def check_rejected(response: Response, message: str) -> None:
    """Check ``response`` is a 400 in the JSON error shape with ``message``."""
    assert response.status == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json == invalid(message)


@pytest.fixture
def seeded(api: Api) -> Api:
    """A buffer ``metrics`` with columns cpu and memory, max_size 10 and two rows."""
    api.create("metrics", ["cpu", "memory"], max_size=10, rolling_windows=[2])
    response = api.append("metrics", SEEDED_ROWS)
    assert response.status == 200
    return api


# Create.


def create_body(**fields: Any) -> dict[str, Any]:
    """Return a valid create body for ``fresh`` with ``fields`` replaced."""
    return {"name": "fresh", "columns": ["x"], **fields}


def long_name(length: int) -> str:
    """Return a valid-looking name of ``length`` characters."""
    return "n" * length


RANGE_MESSAGE = "must be from 1 to 10000000, got"

BAD_CREATE_BODIES = [
    pytest.param(
        create_body(name="-lead"),
        "Invalid buffer name '-lead': use 1-128 characters of A-Z a-z 0-9 _ . - "
        "starting with a letter or digit",
        id="name-leading-dash",
    ),
    pytest.param(
        create_body(name=".hidden"),
        "Invalid buffer name '.hidden': use 1-128 characters of A-Z a-z 0-9 _ . - "
        "starting with a letter or digit",
        id="name-leading-dot",
    ),
    pytest.param(
        create_body(name=""),
        "Invalid buffer name '': use 1-128 characters of A-Z a-z 0-9 _ . - "
        "starting with a letter or digit",
        id="name-empty",
    ),
    pytest.param(
        create_body(name="a/b"),
        "Invalid buffer name 'a/b': use 1-128 characters of A-Z a-z 0-9 _ . - "
        "starting with a letter or digit",
        id="name-slash",
    ),
    pytest.param(
        create_body(name="with space"),
        "Invalid buffer name 'with space': use 1-128 characters of A-Z a-z 0-9 _ . - "
        "starting with a letter or digit",
        id="name-space",
    ),
    pytest.param(
        create_body(name="caf\u00e9"),
        "Invalid buffer name 'caf\u00e9': use 1-128 characters of A-Z a-z 0-9 _ . - "
        "starting with a letter or digit",
        id="name-non-ascii",
    ),
    pytest.param(
        create_body(name=long_name(129)),
        f"Invalid buffer name '{long_name(129)}': use 1-128 characters of "
        "A-Z a-z 0-9 _ . - starting with a letter or digit",
        id="name-129-characters",
    ),
    pytest.param(create_body(name=5), "name must be a string, got 5", id="name-number"),
    pytest.param(
        {"columns": ["x"]}, "Missing required field 'name'", id="name-missing"
    ),
    pytest.param(
        create_body(name=None), "Missing required field 'name'", id="name-null"
    ),
    pytest.param(
        {"name": "fresh"}, "Missing required field 'columns'", id="columns-missing"
    ),
    pytest.param(
        create_body(columns=[]),
        "columns must contain at least one column name",
        id="columns-empty",
    ),
    pytest.param(
        create_body(columns=["a", "b", "a"]),
        "Duplicate column name 'a': column names must be unique",
        id="columns-duplicate",
    ),
    pytest.param(
        create_body(columns=["a", ""]),
        "Column names must be non-empty strings, got string ''",
        id="columns-empty-string",
    ),
    pytest.param(
        create_body(columns=["a", 3]),
        "Column names must be non-empty strings, got 3",
        id="columns-number",
    ),
    pytest.param(
        create_body(columns=[None]),
        "Column names must be non-empty strings, got null",
        id="columns-null-item",
    ),
    pytest.param(
        create_body(columns="cpu"),
        "columns must be an array, got string 'cpu'",
        id="columns-string",
    ),
    pytest.param(
        create_body(max_size=0), f"max_size {RANGE_MESSAGE} 0", id="max-size-zero"
    ),
    pytest.param(
        create_body(max_size=-5),
        f"max_size {RANGE_MESSAGE} -5",
        id="max-size-negative",
    ),
    pytest.param(
        create_body(max_size=10_000_001),
        f"max_size {RANGE_MESSAGE} 10000001",
        id="max-size-over-limit",
    ),
    pytest.param(
        create_body(max_size=True),
        "max_size must be an integer, got true",
        id="max-size-true",
    ),
    pytest.param(
        create_body(max_size=2.5),
        "max_size must be an integer, got 2.5",
        id="max-size-decimal",
    ),
    pytest.param(
        create_body(max_size="10"),
        "max_size must be an integer, got string '10'",
        id="max-size-string",
    ),
    pytest.param(
        create_body(max_size=[10]),
        "max_size must be an integer, got an array",
        id="max-size-array",
    ),
    pytest.param(
        create_body(max_size=10, rolling_windows=[1]),
        "rolling_windows value 1 is out of range: use an integer from 2 to "
        "max_size (10)",
        id="window-one",
    ),
    pytest.param(
        create_body(max_size=10, rolling_windows=[11]),
        "rolling_windows value 11 is out of range: use an integer from 2 to "
        "max_size (10)",
        id="window-over-max-size",
    ),
    pytest.param(
        create_body(rolling_windows=[5, 5]),
        "Duplicate rolling_windows value 5: list each value once",
        id="window-duplicate",
    ),
    pytest.param(
        create_body(rolling_windows=[2.0]),
        "rolling_windows must contain integers, got 2.0",
        id="window-decimal",
    ),
    pytest.param(
        create_body(rolling_windows=3),
        "rolling_windows must be an array, got 3",
        id="window-not-array",
    ),
    pytest.param(
        create_body(max_size=5, lag_periods=[0]),
        "lag_periods value 0 is out of range: use an integer from 1 to "
        "max_size - 1 (4)",
        id="lag-zero",
    ),
    pytest.param(
        create_body(max_size=5, lag_periods=[5]),
        "lag_periods value 5 is out of range: use an integer from 1 to "
        "max_size - 1 (4)",
        id="lag-max-size",
    ),
    pytest.param(
        create_body(max_size=1, lag_periods=[1]),
        "lag_periods value 1 is out of range: use an integer from 1 to "
        "max_size - 1 (0)",
        id="lag-with-max-size-one",
    ),
    pytest.param(
        create_body(lag_periods=[1, 2, 1]),
        "Duplicate lag_periods value 1: list each value once",
        id="lag-duplicate",
    ),
    pytest.param(
        create_body(lag_periods=[True]),
        "lag_periods must contain integers, got true",
        id="lag-true",
    ),
    pytest.param(
        create_body(lag_periods=["1"]),
        "lag_periods must contain integers, got string '1'",
        id="lag-string",
    ),
    pytest.param(
        create_body(colums=["x"]),
        "Unknown field 'colums': valid fields are 'name', 'columns', 'max_size', "
        "'rolling_windows', 'lag_periods'",
        id="unknown-field",
    ),
    pytest.param(
        [create_body()],
        "Request body must be a JSON object with 'name' and 'columns'",
        id="body-array",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_CREATE_BODIES)
def test_create_rejects_bad_body(
    seeded: Api, body: dict[str, Any], message: str
) -> None:
    before = server_state(seeded)

    response = seeded.post(BUFFERS, body)

    check_rejected(response, message)
    assert server_state(seeded) == before


BAD_CREATE_LITERALS = [
    pytest.param(b'{"name": "fresh", "columns": ["x"], "max_size": 10.0}', "10.0"),
    pytest.param(b'{"name": "fresh", "columns": ["x"], "max_size": 1e2}', "100.0"),
    pytest.param(b'{"name": "fresh", "columns": ["x"], "max_size": 1E1}', "10.0"),
]


@pytest.mark.parametrize(("raw", "shown"), BAD_CREATE_LITERALS)
def test_create_rejects_float_literal(seeded: Api, raw: bytes, shown: str) -> None:
    before = server_state(seeded)

    response = seeded.post(BUFFERS, raw=raw)

    check_rejected(response, f"max_size must be an integer, got {shown}")
    assert server_state(seeded) == before


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            b'{"name": "fresh", "columns": ["x"]',
            "Request body is not valid JSON: Expecting ',' delimiter: line 1 "
            "column 35 (char 34)",
            id="unclosed",
        ),
        pytest.param(
            b"",
            "Request body is not valid JSON: Expecting value: line 1 column 1 (char 0)",
            id="empty",
        ),
        pytest.param(
            b'{"name": "fresh", "columns": ["x"], "max_size": NaN}',
            "Request body is not valid JSON: NaN is not a JSON number; send "
            "finite numbers only",
            id="nan",
        ),
        pytest.param(
            b'{"name": "\xff"}',
            "Request body is not valid JSON: 'utf-8' codec can't decode byte 0xff "
            "in position 10: invalid start byte",
            id="not-utf8",
        ),
    ],
)
def test_create_rejects_malformed_json(seeded: Api, raw: bytes, message: str) -> None:
    before = server_state(seeded)

    response = seeded.post(BUFFERS, raw=raw)

    check_rejected(response, message)
    assert server_state(seeded) == before


def test_create_duplicate_unchanged(seeded: Api) -> None:
    before = server_state(seeded)

    response = seeded.post(BUFFERS, {"name": "metrics", "columns": ["other"]})

    assert response.status == 409
    assert server_state(seeded) == before


def test_create_name_128_characters(api: Api) -> None:
    response = api.post(BUFFERS, create_body(name=long_name(128)))

    assert response.status == 201


def test_create_name_all_characters(api: Api) -> None:
    response = api.post(BUFFERS, create_body(name="0aZ_.-9"))

    assert response.status == 201
    assert api.get(f"{BUFFERS}/0aZ_.-9").json["name"] == "0aZ_.-9"


def test_create_null_means_default(api: Api) -> None:
    body = create_body(max_size=None, rolling_windows=None, lag_periods=None)

    response = api.post(BUFFERS, body)

    assert response.status == 201
    assert response.json["max_size"] == 10000
    assert response.json["rolling_windows"] == []
    assert response.json["lag_periods"] == []


def test_create_limits_accepted(api: Api) -> None:
    body = create_body(max_size=10_000_000, rolling_windows=[2, 10_000_000])

    response = api.post(BUFFERS, body | {"lag_periods": [1, 9_999_999]})

    assert response.status == 201
    assert response.json["memory_bytes"] == 0


def test_create_max_size_one(api: Api) -> None:
    response = api.post(BUFFERS, create_body(max_size=1))

    assert response.status == 201


# Append.


BAD_APPEND_BODIES = [
    pytest.param(
        {"data": []}, "Data array must contain at least one row", id="empty-data"
    ),
    pytest.param(
        {"data": [{"cpu": 1}]},
        "Schema mismatch: buffer expects columns ['cpu', 'memory'], got ['cpu'] "
        "(row 0)",
        id="missing-key",
    ),
    pytest.param(
        {"data": [{"cpu": 1, "memory": 2, "disk": 3}]},
        "Schema mismatch: buffer expects columns ['cpu', 'memory'], got ['cpu', "
        "'memory', 'disk'] (row 0)",
        id="extra-key",
    ),
    pytest.param(
        {"data": [{"cpu": 1, "memory": 2}, {"cpu": 1, "latency": 2}]},
        "Schema mismatch: buffer expects columns ['cpu', 'memory'], got ['cpu', "
        "'latency'] (row 1)",
        id="renamed-key-second-row",
    ),
    pytest.param(
        {"data": [{}]},
        "Schema mismatch: buffer expects columns ['cpu', 'memory'], got [] (row 0)",
        id="empty-row",
    ),
    pytest.param(
        {"data": [{"cpu": "high", "memory": 2}]},
        "Column 'cpu' contains non-numeric value: 'high' (row 0)",
        id="string",
    ),
    pytest.param(
        {"data": [{"cpu": "12", "memory": 2}]},
        "Column 'cpu' contains non-numeric value: '12' (row 0)",
        id="numeric-string",
    ),
    pytest.param(
        {"data": [{"cpu": 1, "memory": True}]},
        "Column 'memory' contains non-numeric value: true (row 0)",
        id="boolean",
    ),
    pytest.param(
        {"data": [{"cpu": 1, "memory": False}]},
        "Column 'memory' contains non-numeric value: false (row 0)",
        id="boolean-false",
    ),
    pytest.param(
        {"data": [{"cpu": None, "memory": 2}]},
        "Column 'cpu' contains non-numeric value: null (row 0)",
        id="null",
    ),
    pytest.param(
        {"data": [{"cpu": [1], "memory": 2}]},
        "Column 'cpu' contains non-numeric value: [1] (row 0)",
        id="array",
    ),
    pytest.param(
        {"data": [{"cpu": {"value": 1}, "memory": 2}]},
        "Column 'cpu' contains non-numeric value: {\"value\": 1} (row 0)",
        id="object",
    ),
    pytest.param(
        {"data": [{"cpu": "x" * 100, "memory": 2}]},
        f"Column 'cpu' contains non-numeric value: '{'x' * 56}... (row 0)",
        id="long-string-shortened",
    ),
    pytest.param(
        {"data": [1]},
        "Row 0 must be an object of column values, got 1",
        id="row-number",
    ),
    pytest.param(
        {"data": {"cpu": 1, "memory": 2}},
        '\'data\' must be an array of row objects, got {"cpu": 1, "memory": 2}',
        id="data-object",
    ),
    pytest.param(
        {"data": None},
        "'data' must be an array of row objects, got null",
        id="data-null",
    ),
    pytest.param(
        {"data": [{"cpu": 1, "memory": 2}], "mode": "replace"},
        "Unknown key 'mode' in the request body: send only \"data\", an array of "
        "row objects",
        id="extra-top-level-key",
    ),
    pytest.param(
        {"rows": [{"cpu": 1, "memory": 2}]},
        "Unknown key 'rows' in the request body: send only \"data\", an array of "
        "row objects",
        id="misnamed-data-key",
    ),
    pytest.param(
        {},
        'Request body must have the key "data", an array of row objects',
        id="empty-object",
    ),
    pytest.param(
        [{"cpu": 1, "memory": 2}],
        'Request body must be a JSON object {"data": [row, ...]}, got [{"cpu": 1, '
        '"memory": 2}]',
        id="body-array",
    ),
    pytest.param(
        "data",
        "Request body must be a JSON object {\"data\": [row, ...]}, got 'data'",
        id="body-string",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_APPEND_BODIES)
def test_append_rejects_bad_body(seeded: Api, body: Any, message: str) -> None:
    before = server_state(seeded)

    response = seeded.post(APPEND, body)

    check_rejected(response, message)
    assert server_state(seeded) == before


TOO_LARGE = (
    "Column 'cpu' contains a number too large for float64 (row 0): values must be "
    "finite, below 1.8e308 in magnitude"
)
NOT_A_NUMBER = (
    "Request body is not valid JSON: {} is not a JSON number; send finite numbers only"
)

BAD_APPEND_LITERALS = [
    pytest.param(b"NaN", NOT_A_NUMBER.format("NaN"), id="nan"),
    pytest.param(b"Infinity", NOT_A_NUMBER.format("Infinity"), id="infinity"),
    pytest.param(b"-Infinity", NOT_A_NUMBER.format("-Infinity"), id="minus-infinity"),
    pytest.param(b"1e400", TOO_LARGE, id="exponent-overflow"),
    pytest.param(b"-1e400", TOO_LARGE, id="negative-exponent-overflow"),
    pytest.param(b"1.7976931348623159e308", TOO_LARGE, id="just-past-max"),
    pytest.param(b"1" + b"0" * 400, TOO_LARGE, id="integer-overflow"),
]


@pytest.mark.parametrize(("literal", "message"), BAD_APPEND_LITERALS)
def test_append_rejects_number_literal(
    seeded: Api, literal: bytes, message: str
) -> None:
    before = server_state(seeded)
    raw = b'{"data": [{"cpu": 1, "memory": 2}, {"cpu": %s, "memory": 2}]}' % literal

    response = seeded.post(APPEND, raw=raw)

    check_rejected(response, message.replace("(row 0)", "(row 1)"))
    assert server_state(seeded) == before


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            b'{"data": [{"cpu": 1, "memory": 2}',
            "Request body is not valid JSON: Expecting ',' delimiter: line 1 "
            "column 34 (char 33)",
            id="unclosed",
        ),
        pytest.param(
            b'{"data": [{"cpu": 1, "memory": 2}]} trailing',
            "Request body is not valid JSON: Extra data: line 1 column 37 (char 36)",
            id="trailing-text",
        ),
        pytest.param(
            b"",
            "Request body is not valid JSON: Expecting value: line 1 column 1 (char 0)",
            id="empty",
        ),
        pytest.param(
            b"{'data': []}",
            "Request body is not valid JSON: Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1)",
            id="single-quotes",
        ),
    ],
)
def test_append_rejects_malformed_json(seeded: Api, raw: bytes, message: str) -> None:
    before = server_state(seeded)

    response = seeded.post(APPEND, raw=raw)

    check_rejected(response, message)
    assert server_state(seeded) == before


def large_batch(rows: int) -> list[dict[str, Any]]:
    """Return ``rows`` valid rows for the ``metrics`` buffer."""
    return [{"cpu": float(n), "memory": n * 0.5} for n in range(rows)]


def test_bad_value_mid_batch(seeded: Api) -> None:
    before = server_state(seeded)
    rows = large_batch(20_000)
    rows[12_345]["memory"] = "n/a"

    response = seeded.append("metrics", rows)

    check_rejected(
        response, "Column 'memory' contains non-numeric value: 'n/a' (row 12345)"
    )
    assert server_state(seeded) == before


def test_bad_keys_mid_batch(seeded: Api) -> None:
    before = server_state(seeded)
    rows = large_batch(20_000)
    rows[9_999] = {"cpu": 1.0}

    response = seeded.append("metrics", rows)

    check_rejected(
        response,
        "Schema mismatch: buffer expects columns ['cpu', 'memory'], got ['cpu'] "
        "(row 9999)",
    )
    assert server_state(seeded) == before


def test_overflow_mid_batch(seeded: Api) -> None:
    before = server_state(seeded)
    rows = json.dumps({"data": large_batch(20_000)}).encode()
    raw = rows.replace(b'"cpu": 777.0', b'"cpu": 1e999')

    response = seeded.post(APPEND, raw=raw)

    check_rejected(response, TOO_LARGE.replace("(row 0)", "(row 777)"))
    assert server_state(seeded) == before


def test_last_row_bad_unchanged(seeded: Api) -> None:
    before = server_state(seeded)
    rows = large_batch(50)
    rows[-1]["cpu"] = None

    response = seeded.append("metrics", rows)

    check_rejected(response, "Column 'cpu' contains non-numeric value: null (row 49)")
    assert server_state(seeded) == before


# What append accepts.


def test_append_key_order_free(seeded: Api) -> None:
    response = seeded.append("metrics", [{"memory": 30, "cpu": 3.5}])

    assert response.status == 200
    assert seeded.data("metrics", "?last=1").json["data"] == [
        {"cpu": 3.5, "memory": 30.0}
    ]


def test_append_rounds_big_integers(seeded: Api) -> None:
    raw = b'{"data": [{"cpu": 9007199254740993, "memory": 18446744073709551617}]}'

    response = seeded.post(APPEND, raw=raw)

    assert response.status == 200
    assert seeded.data("metrics", "?last=1").json["data"] == [
        {"cpu": 9007199254740992.0, "memory": 18446744073709551616.0}
    ]


def test_append_rounds_huge_integer(seeded: Api) -> None:
    raw = b'{"data": [{"cpu": 1%s, "memory": -1%s}]}' % (b"0" * 300, b"0" * 300)

    response = seeded.post(APPEND, raw=raw)

    assert response.status == 200
    assert seeded.data("metrics", "?last=1").json["data"] == [
        {"cpu": 1e300, "memory": -1e300}
    ]


def test_append_accepts_largest_float(seeded: Api) -> None:
    raw = b'{"data": [{"cpu": 1.7976931348623157e308, "memory": -0.0}]}'

    response = seeded.post(APPEND, raw=raw)

    assert response.status == 200
    assert seeded.data("metrics", "?last=1").json["data"] == [
        {"cpu": 1.7976931348623157e308, "memory": 0.0}
    ]


def test_append_batch_over_max_size(seeded: Api) -> None:
    response = seeded.append("metrics", large_batch(25))

    assert response.json == {
        "rows_appended": 25,
        "current_size": 10,
        "rows_dropped": 17,
    }
    assert seeded.data("metrics").json["data"] == large_batch(25)[-10:]


def test_append_size_invariant(api: Api) -> None:
    api.create("sizes", ["v"], max_size=7)
    size = 0

    for count in (1, 3, 7, 2, 9, 1, 14):
        response = api.append("sizes", [{"v": 1}] * count)

        current = min(7, size + count)
        assert response.json == {
            "rows_appended": count,
            "current_size": current,
            "rows_dropped": size + count - current,
        }
        size = current
