"""Property-based fuzzing of the HTTP API against a real standalone server.

Hypothesis draws requests: any method on any route, names valid and not, query
strings of known and unknown parameters, and bodies ranging from valid create and
append bodies to arbitrary JSON and bytes. Every response must be one the OpenAPI
description allows, never a 500, and every error must be JSON of the error shape.
The buffers the requests create are deleted after the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.http import Api
from tests.openapi_check import Description
from tests.servers import ServerProcess

BUFFERS = "v1/ml/buffers"
#: Requests drawn per run: about 15 s on a 2-core machine.
MAX_EXAMPLES = 4000
DESCRIPTION = Description()
POOL = ["fz0", "fz1", "fz2"]
COLUMNS = ["x", "y"]

names = st.one_of(
    st.sampled_from(POOL),
    st.sampled_from(POOL),
    st.text(min_size=0, max_size=12),
    st.sampled_from(["..", ".", "%2F", "a%2Fb", "%2e%2e", "caf%C3%A9", "%ff", "a b"]),
)
pool_names = st.sampled_from(POOL)
segments = st.one_of(
    pool_names,
    pool_names,
    pool_names,
    names.map(lambda name: quote(name, safe="")),
    st.sampled_from(["..", "%2e%2e", "a%2Fb", "%ff", "%"]),
)
routes = st.sampled_from(
    ["", "/", "/{}", "/{}/append", "/{}/data", "/{}/features", "/{}/features/history"]
)
#: The operations the API has, drawn more often than arbitrary method and route.
operations = st.sampled_from(
    [
        ("GET", ""),
        ("POST", ""),
        ("GET", "/{}"),
        ("DELETE", "/{}"),
        ("POST", "/{}/append"),
        ("POST", "/{}/append"),
        ("GET", "/{}/data"),
        ("GET", "/{}/features"),
        ("GET", "/{}/features/history"),
    ]
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
rows = st.lists(
    st.one_of(
        st.fixed_dictionaries({column: numbers for column in COLUMNS}),
        st.dictionaries(st.sampled_from([*COLUMNS, "z"]), json_values, max_size=3),
    ),
    max_size=6,
)
create_bodies = st.fixed_dictionaries(
    {"name": names, "columns": st.just(COLUMNS)},
    optional={
        "max_size": st.one_of(st.integers(-5, 10**8), st.none(), numbers),
        "rolling_windows": st.lists(st.integers(-2, 50), max_size=3),
        "lag_periods": st.lists(st.integers(-2, 50), max_size=3),
        "colour": json_values,
    },
)
valid_rows = st.lists(
    st.fixed_dictionaries({column: numbers for column in COLUMNS}),
    min_size=1,
    max_size=5,
)
valid_creates = st.fixed_dictionaries(
    {"name": pool_names, "columns": st.just(COLUMNS)},
    optional={
        "max_size": st.integers(3, 1000),
        "rolling_windows": st.lists(st.integers(2, 3), unique=True, max_size=2),
        "lag_periods": st.lists(st.integers(1, 2), unique=True, max_size=2),
    },
)
bodies = st.one_of(
    st.none(),
    valid_creates.map(json.dumps),
    create_bodies.map(json.dumps),
    st.builds(lambda data: json.dumps({"data": data}), valid_rows),
    st.builds(lambda data: json.dumps({"data": data}), valid_rows),
    st.builds(lambda data: json.dumps({"data": data}), rows),
    st.builds(
        lambda columns: json.dumps({"columns": columns}),
        st.dictionaries(
            st.sampled_from([*COLUMNS, "z"]), st.lists(numbers, max_size=4)
        ),
    ),
    json_values.map(json.dumps),
    st.binary(max_size=40).map(lambda raw: raw.decode("latin-1")),
    st.sampled_from(
        [
            '{"data": [{"x": NaN, "y": 1}]}',
            '{"data": [{"x": 1e400, "y": 1}]}',
            '{"data": [{"x": 1, "y": 2, "x": 3}]}',
            '{"name": "fz0", "columns": ["x", "y"], "max_size": 1e400}',
            "[" * 5000,
        ]
    ),
)
valid_queries = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "offset": st.integers(0, 30).map(str),
            "limit": st.integers(0, 30).map(str),
            "format": st.sampled_from(["json", "columns", "csv"]),
        },
    ),
    st.fixed_dictionaries({"last": st.integers(0, 30).map(str)}),
)
any_queries = st.dictionaries(
    st.sampled_from(["offset", "limit", "last", "format", "token", "extra"]),
    st.one_of(
        st.integers(min_value=0, max_value=10**25).map(str),
        st.sampled_from(["json", "columns", "csv", "parquet", "arrow", "xml"]),
        st.text(max_size=6),
    ),
    max_size=3,
)
queries = st.one_of(st.just({}), valid_queries, valid_queries, any_queries)
methods = st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"])
requests = st.one_of(operations, operations, operations, st.tuples(methods, routes))


@pytest.fixture(scope="module")
def fuzzed(standalone: ServerProcess) -> Iterator[Api]:
    """A client of the session's standalone server, cleaned after the fuzzing."""
    client = Api(standalone.base_url, standalone.token)
    for name in POOL[:2]:
        client.post(BUFFERS, {"name": name, "columns": COLUMNS, "rolling_windows": [2]})
    yield client
    for model in client.get(BUFFERS).json["buffers"]:
        client.delete(f"{BUFFERS}/{quote(model['name'], safe='')}")


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests, segment=segments, query=queries, body=bodies)
def test_fuzzed_requests_fit_description(
    fuzzed: Api,
    request: tuple[str, str],
    segment: str,
    query: dict[str, str],
    body: str | None,
) -> None:
    method, route = request
    path = BUFFERS + route.format(segment)
    if query:
        path += "?" + urlencode(query)
    raw = body.encode("utf-8", "surrogatepass") if body is not None else None

    response = fuzzed.request(method, path, raw=raw)

    operation = DESCRIPTION.operation(method, path)
    event(f"{operation.method} {operation.template}: {response.status}")
    assert response.status != 500, (method, path, body, response.body)
    if response.status >= 400:
        error: Any = response.json["error"]
        assert set(error) == {"code", "message"}, response.body
    DESCRIPTION.check(method, path, response)
