"""``GET /v1/ml/openapi.json`` describes every route, and real responses fit it."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import polars as pl
import pytest
from openapi_spec_validator import validate
from tornado.web import RequestHandler

from bufferkit.errors import ERRORS_BY_CODE
from bufferkit.handlers import BufferkitHandler, api_handlers
from bufferkit.openapi import ERROR_CODES, openapi_document
from tests.http import Api
from tests.openapi_check import Description

BUFFERS = "v1/ml/buffers"
DESCRIPTION = Description()


def arrow_stream(**columns: list[float]) -> bytes:
    """Return an Arrow IPC stream of float64 ``columns``."""
    sink = io.BytesIO()
    pl.DataFrame(columns).write_ipc_stream(sink)
    return sink.getvalue()


#: (method, path, JSON body or raw bytes, headers): success and error of each route.
SCRIPT: list[tuple[str, str, Any, dict[str, str]]] = [
    ("GET", "v1/ml/openapi.json", None, {}),
    ("GET", BUFFERS, None, {}),
    (
        "POST",
        BUFFERS,
        {"name": "described", "columns": ["x", "y"], "max_size": 5},
        {},
    ),
    (
        "POST",
        BUFFERS,
        {
            "name": "featured",
            "columns": ["x"],
            "rolling_windows": [2],
            "lag_periods": [1],
        },
        {},
    ),
    ("POST", BUFFERS, {"name": "described", "columns": ["x"]}, {}),
    ("POST", BUFFERS, {"name": "bad name", "columns": ["x"]}, {}),
    ("POST", BUFFERS, {"name": "typo", "columns": ["x"], "max_sise": 3}, {}),
    ("POST", BUFFERS, b'{"name": "x", "columns": ["x"], "name": "y"}', {}),
    ("POST", BUFFERS, {"name": "big", "columns": ["x"], "max_size": 1e400}, {}),
    ("POST", BUFFERS, b"not json", {}),
    ("GET", BUFFERS, None, {}),
    ("GET", f"{BUFFERS}/described", None, {}),
    ("GET", f"{BUFFERS}/missing", None, {}),
    ("POST", f"{BUFFERS}/described/append", {"data": [{"x": 1, "y": 2}]}, {}),
    (
        "POST",
        f"{BUFFERS}/described/append",
        {"data": [{"x": index, "y": -index} for index in range(7)]},
        {},
    ),
    (
        "POST",
        f"{BUFFERS}/described/append",
        {"columns": {"x": [1.5, 2.5], "y": [3, 4]}},
        {},
    ),
    (
        "POST",
        f"{BUFFERS}/described/append",
        arrow_stream(x=[1.0], y=[2.0]),
        {"Content-Type": "application/vnd.apache.arrow.stream"},
    ),
    ("POST", f"{BUFFERS}/described/append", {"data": []}, {}),
    ("POST", f"{BUFFERS}/described/append", {"data": [{"x": "high", "y": 1}]}, {}),
    ("POST", f"{BUFFERS}/described/append", b'{"data": [{"x": 1, "x": 2}]}', {}),
    ("POST", f"{BUFFERS}/missing/append", {"data": [{"x": 1}]}, {}),
    ("POST", f"{BUFFERS}/featured/append", {"data": [{"x": 1}]}, {}),
    ("GET", f"{BUFFERS}/described/data", None, {}),
    ("GET", f"{BUFFERS}/described/data?offset=1&limit=2", None, {}),
    ("GET", f"{BUFFERS}/described/data?last=3&format=columns", None, {}),
    ("GET", f"{BUFFERS}/described/data?format=csv", None, {}),
    ("GET", f"{BUFFERS}/described/data?format=parquet", None, {}),
    ("GET", f"{BUFFERS}/described/data?format=arrow", None, {}),
    ("GET", f"{BUFFERS}/described/data?offset=1234567890123456789", None, {}),
    ("GET", f"{BUFFERS}/described/data?last=1&offset=1", None, {}),
    ("GET", f"{BUFFERS}/described/data?colour=red", None, {}),
    ("GET", f"{BUFFERS}/missing/data", None, {}),
    ("GET", f"{BUFFERS}/featured/features", None, {}),
    ("GET", f"{BUFFERS}/described/features", None, {}),
    ("GET", f"{BUFFERS}/missing/features", None, {}),
    ("GET", f"{BUFFERS}/featured/features/history", None, {}),
    ("GET", f"{BUFFERS}/featured/features/history?format=columns", None, {}),
    ("GET", f"{BUFFERS}/featured/features/history?format=csv", None, {}),
    ("GET", f"{BUFFERS}/featured/features/history?limit=x", None, {}),
    ("GET", f"{BUFFERS}/missing/features/history", None, {}),
    ("PUT", f"{BUFFERS}/described", {}, {}),
    ("DELETE", BUFFERS, None, {}),
    ("POST", f"{BUFFERS}/described/data", {}, {}),
    ("GET", "v1/ml/unknown", None, {}),
    ("GET", f"{BUFFERS}/described/unknown", None, {}),
    ("DELETE", f"{BUFFERS}/described", None, {}),
    ("DELETE", f"{BUFFERS}/described", None, {}),
    ("DELETE", f"{BUFFERS}/featured", None, {}),
]


def send(api: Api, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    """Send one scripted request, raw bytes as they are and anything else as JSON."""
    if isinstance(body, bytes):
        return api.request(method, path, raw=body, headers=headers)
    return api.request(method, path, body, headers=headers)


def test_document_is_valid_openapi() -> None:
    validate(openapi_document())


def test_served_document_names_host_base_url(api: Api) -> None:
    response = api.get("v1/ml/openapi.json")

    base = urlsplit(api.base_url).path
    assert response.status == 200
    assert response.json == openapi_document(base)


def test_every_route_described() -> None:
    routes = {
        pattern.replace("([^/]+)", "{name}").removesuffix("/?")
        for pattern, handler in api_handlers("/")
        if ".*" not in pattern
    }

    assert routes == set(DESCRIPTION.document["paths"])


def test_every_method_described() -> None:
    handlers: dict[str, type[BufferkitHandler]] = {
        pattern.replace("([^/]+)", "{name}").removesuffix("/?"): handler
        for pattern, handler in api_handlers("/")
    }

    for path, item in DESCRIPTION.document["paths"].items():
        handler = handlers[path]
        methods = {
            verb
            for verb in ("get", "post", "put", "patch", "delete")
            if getattr(handler, verb) is not getattr(RequestHandler, verb)
        }
        assert set(item) - {"parameters"} == methods, path


def test_error_codes_match_error_classes() -> None:
    described = dict(ERROR_CODES)
    classes = {code: cls.status for code, cls in ERRORS_BY_CODE.items()}

    assert classes.items() <= described.items()
    assert described["internal_error"] == 500


def test_scripted_responses_fit_description(api: Api) -> None:
    statuses: dict[str, set[int]] = {}
    for method, path, body, headers in SCRIPT:
        response = send(api, method, path, body, headers)

        DESCRIPTION.check(method, path, response)
        operation = DESCRIPTION.operation(method, path)
        key = f"{operation.method} {operation.template}"
        statuses.setdefault(key, set()).add(response.status)

    assert statuses[f"post /{BUFFERS}"] == {201, 400, 409}
    assert statuses[f"post /{BUFFERS}/{{name}}/append"] == {200, 400, 404}
    assert statuses[f"get /{BUFFERS}/{{name}}/data"] == {200, 400, 404}
    assert statuses[f"delete /{BUFFERS}/{{name}}"] == {200, 404}


@pytest.mark.parametrize(
    "status",
    [401, 403, 405, 413, 500],
)
def test_error_responses_described_everywhere(status: int) -> None:
    operations = [
        operation
        for item in DESCRIPTION.document["paths"].values()
        for key, operation in item.items()
        if key != "parameters"
    ]

    described = [str(status) in operation["responses"] for operation in operations]

    if status == 413:
        assert sum(described) == 2
    else:
        assert all(described)
