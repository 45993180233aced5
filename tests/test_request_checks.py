"""Unknown query parameters on every route, and integers too long to convert."""

from __future__ import annotations

import pytest

from tests.http import Api
from tests.servers import ServerProcess

BUFFERS = "v1/ml/buffers"
PAGE = "'offset', 'limit', 'last', 'format'"


@pytest.mark.parametrize(
    ("method", "path", "parameters"),
    [
        ("GET", f"{BUFFERS}?limit=1", None),
        ("POST", f"{BUFFERS}?limit=1", None),
        ("GET", f"{BUFFERS}/m?limit=1", None),
        ("DELETE", f"{BUFFERS}/m?limit=1", None),
        ("POST", f"{BUFFERS}/m/append?limit=1", None),
        ("GET", f"{BUFFERS}/m/features?limit=1", None),
        ("GET", "v1/ml/openapi.json?limit=1", None),
        ("GET", f"{BUFFERS}/m/data?limit=1&force=1", PAGE),
        ("GET", f"{BUFFERS}/m/features/history?force=1", PAGE),
    ],
)
def test_unknown_query_parameters_are_rejected(
    api: Api, method: str, path: str, parameters: str | None
) -> None:
    api.create("m", ["x"])
    assert api.append("m", [{"x": 1}]).status == 200
    path = path.replace("limit=1", "force=1") if parameters is None else path
    body = {"name": "n", "columns": ["x"]} if method == "POST" else None
    if path.endswith("append?force=1"):
        body = {"data": [{"x": 2}]}

    response = api.request(method, path, body)

    assert response.status == 400
    expected = (
        "this route takes no query parameters"
        if parameters is None
        else f"valid parameters are {parameters}"
    )
    assert response.json["error"] == {
        "code": "invalid_request",
        "message": f"Unknown query parameter 'force': {expected}",
    }
    assert api.get(f"{BUFFERS}/m").json["current_size"] == 1
    assert api.get(f"{BUFFERS}/n").status == 404


def test_features_format_is_rejected(api: Api) -> None:
    api.create("m", ["x"])

    response = api.get(f"{BUFFERS}/m/features?format=csv")

    assert response.status == 400
    assert response.json["error"]["message"] == (
        "Unknown query parameter 'format': this route takes no query parameters"
    )


def test_wrong_verb_is_405_before_the_query(api: Api) -> None:
    response = api.request("PUT", f"{BUFFERS}?force=1")

    assert response.status == 405
    assert api.get("v1/ml/nothing?force=1").status == 404


def test_jupyter_token_argument_stays_allowed(jupyter: ServerProcess) -> None:
    api = Api(jupyter.base_url, jupyter.token)
    query = f"?token={jupyter.token}"
    try:
        created = api.post(f"{BUFFERS}{query}", {"name": "m", "columns": ["x"]})
        assert created.status == 201
        for path in (BUFFERS, f"{BUFFERS}/m", f"{BUFFERS}/m/features"):
            response = api.get(path + query, auth=False)
            assert response.status == 200, (path, response.body)
        response = api.delete(f"{BUFFERS}/m{query}", auth=False)
        assert response.status == 200
    finally:
        api.delete(f"{BUFFERS}/m")


LONG = "9" * 4301
TOO_LONG = (
    "Request body has a number with 4301 digits, which is too long: send numbers of "
    "at most 4300 digits; values are stored as float64, finite and below 1.8e308 in "
    "magnitude"
)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{BUFFERS}/m/append", f'{{"data": [{{"x": {LONG}}}]}}'),
        (f"{BUFFERS}/m/append", f'{{"data": [{{"x": 1}}, {{"x": -{LONG}}}]}}'),
        (f"{BUFFERS}/m/append", f'{{"columns": {{"x": [1, {LONG}]}}}}'),
        (BUFFERS, f'{{"name": "n", "columns": ["x"], "max_size": {LONG}}}'),
    ],
    ids=["row", "rows", "columns", "create"],
)
def test_integers_too_long_get_a_plain_400(api: Api, path: str, body: str) -> None:
    api.create("m", ["x"])

    response = api.request("POST", path, raw=body.encode())

    assert response.status == 400
    assert response.json["error"] == {"code": "invalid_request", "message": TOO_LONG}
    assert api.get(f"{BUFFERS}/m").json["current_size"] == 0


def test_integer_of_4300_digits_is_out_of_float64_range(api: Api) -> None:
    api.create("m", ["x"])
    body = f'{{"data": [{{"x": 1}}, {{"x": {"9" * 4300}}}]}}'

    response = api.request("POST", f"{BUFFERS}/m/append", raw=body.encode())

    assert response.status == 400
    assert response.json["error"]["message"] == (
        "Column 'x' contains a number too large for float64 (row 1): values must "
        "be finite, below 1.8e308 in magnitude"
    )
