"""The Jupyter server extension, in-process through pytest-jupyter's fixtures.

pytest-jupyter serves under the base URL ``/a%40b/``: a route built without
``url_path_join(base_url, ...)`` returns 404 here.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from jupyter_server.serverapp import ServerApp
from tornado import web
from tornado.httpclient import HTTPResponse

from bufferkit import extension, handlers
from bufferkit.buffer import Snapshot
from bufferkit.codec import rows_json
from bufferkit.registry import Registry

Fetch = Callable[..., Awaitable[HTTPResponse]]
NO_AUTH = {"Authorization": ""}


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"bufferkit": True}},
        "BufferkitExtension": {"max_buffers": 2, "max_body_size": 4096},
    }


async def fetch(jp_fetch: Fetch, path: str, **kwargs: Any) -> HTTPResponse:
    """Fetch without raising on error statuses."""
    if "body" in kwargs and not isinstance(kwargs["body"], str | bytes):
        kwargs["body"] = json.dumps(kwargs["body"])
    return await jp_fetch(path, raise_error=False, **kwargs)


async def create(jp_fetch: Fetch, name: str, **options: Any) -> HTTPResponse:
    body = {"name": name, "columns": ["x"], **options}
    return await fetch(jp_fetch, "v1/ml/buffers", method="POST", body=body)


def error_of(response: HTTPResponse) -> dict[str, str]:
    """The ``error`` object of a JSON error response, checking its shape."""
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    error: dict[str, str] = body["error"]
    return error


async def test_routes_are_under_the_base_url(jp_fetch: Fetch, jp_base_url: str) -> None:
    created = await create(jp_fetch, "demo")

    listed = await fetch(jp_fetch, "v1/ml/buffers")

    assert created.code == 201
    assert created.headers["Location"] == jp_base_url + "v1/ml/buffers/demo"
    assert [model["name"] for model in json.loads(listed.body)["buffers"]] == ["demo"]


async def test_one_registry_per_server(
    jp_fetch: Fetch, jp_serverapp: ServerApp
) -> None:
    await create(jp_fetch, "demo")

    registry = jp_serverapp.web_app.settings["bufferkit_registry"]

    assert isinstance(registry, Registry)
    assert [buffer.name for buffer in registry.buffers()] == ["demo"]


async def test_traitlets_configure_the_limits(
    jp_fetch: Fetch, jp_serverapp: ServerApp
) -> None:
    for name in ("a", "b"):
        assert (await create(jp_fetch, name)).code == 201

    third = await create(jp_fetch, "c")
    large = await fetch(
        jp_fetch, "v1/ml/buffers/a/append", method="POST", body=b" " * 5000
    )

    assert jp_serverapp.web_app.settings["bufferkit_max_body_size"] == 4096
    assert third.code == 409
    assert error_of(third)["code"] == "limit_exceeded"
    assert large.code == 413
    assert error_of(large)["code"] == "payload_too_large"


def test_traits_have_help() -> None:
    traits = extension.BufferkitExtension.class_own_traits(config=True)

    assert set(traits) >= {"max_body_size", "max_buffers"}
    assert all(trait.help for trait in traits.values())


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "v1/ml/buffers", None),
        ("POST", "v1/ml/buffers", {"name": "intruder", "columns": ["x"]}),
        ("GET", "v1/ml/buffers/demo/data", None),
        ("POST", "v1/ml/buffers/demo/append", {"data": [{"x": 1}]}),
        ("DELETE", "v1/ml/buffers/demo", None),
        ("GET", "v1/ml/unknown", None),
        ("PUT", "v1/ml/buffers", {}),
    ],
)
async def test_no_token_is_forbidden(
    jp_fetch: Fetch, jp_serverapp: ServerApp, method: str, path: str, body: Any
) -> None:
    await create(jp_fetch, "demo")
    kwargs = {} if body is None else {"body": body}

    response = await fetch(jp_fetch, path, method=method, headers=NO_AUTH, **kwargs)

    assert response.code == 403
    assert error_of(response)["code"] == "forbidden"
    registry = jp_serverapp.web_app.settings["bufferkit_registry"]
    assert [buffer.name for buffer in registry.buffers()] == ["demo"]
    assert registry.get("demo").current_size == 0


async def test_token_header_and_query_are_accepted(
    jp_fetch: Fetch, jp_serverapp: ServerApp
) -> None:
    token = jp_serverapp.identity_provider.token
    await create(jp_fetch, "demo")

    by_header = await fetch(
        jp_fetch, "v1/ml/buffers", headers={"Authorization": f"token {token}"}
    )
    by_query = await fetch(
        jp_fetch,
        "v1/ml/buffers/demo/data",
        headers=NO_AUTH,
        params={"token": token, "last": "1"},
    )

    assert by_header.code == 200
    assert by_query.code == 200
    assert json.loads(by_query.body)["returned_rows"] == 0


async def login_cookies(jp_fetch: Fetch, token: str) -> dict[str, str]:
    """Log in with the token in the URL and open the login page, as a browser does.

    The first sets the login cookie, the second the ``_xsrf`` cookie.
    """
    cookies = {}
    for path, params in (("api/status", {"token": token}), ("login", None)):
        response = await fetch(jp_fetch, path, headers=NO_AUTH, params=params)
        assert response.code == 200
        for header in response.headers.get_list("Set-Cookie"):
            name, _, rest = header.partition("=")
            cookies[name] = rest.split(";")[0]
    return cookies


async def test_cookie_post_needs_xsrf_token(
    jp_fetch: Fetch, jp_serverapp: ServerApp
) -> None:
    cookies = await login_cookies(jp_fetch, jp_serverapp.identity_provider.token)
    xsrf = cookies["_xsrf"]
    cookie_header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    body = {"name": "from_browser", "columns": ["x"]}

    without = await fetch(
        jp_fetch,
        "v1/ml/buffers",
        method="POST",
        body=body,
        headers={**NO_AUTH, "Cookie": cookie_header},
    )
    listed = await fetch(
        jp_fetch, "v1/ml/buffers", headers={**NO_AUTH, "Cookie": cookie_header}
    )
    with_xsrf = await fetch(
        jp_fetch,
        "v1/ml/buffers",
        method="POST",
        body=body,
        headers={**NO_AUTH, "Cookie": cookie_header, "X-XSRFToken": xsrf},
    )

    assert without.code == 403
    assert "_xsrf" in error_of(without)["message"]
    assert listed.code == 200
    assert json.loads(listed.body)["buffers"] == []
    assert with_xsrf.code == 201


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "v1/ml/unknown", 404, "not_found"),
        ("POST", "v1/ml/buffers/demo/extra/path", 404, "not_found"),
        ("GET", "v1/ml/buffers/missing", 404, "not_found"),
        ("PUT", "v1/ml/buffers", 405, "method_not_allowed"),
        ("GET", "v1/ml/buffers/demo/append", 405, "method_not_allowed"),
        ("POST", "v1/ml/buffers/demo/append", 400, "invalid_request"),
    ],
)
async def test_errors_have_the_api_shape(
    jp_fetch: Fetch, method: str, path: str, status: int, code: str
) -> None:
    await create(jp_fetch, "demo")
    kwargs = {"body": "not json"} if method in ("POST", "PUT") else {}

    response = await fetch(jp_fetch, path, method=method, **kwargs)

    assert response.code == status
    assert error_of(response)["code"] == code


async def test_405_lists_the_api_verbs(jp_fetch: Fetch) -> None:
    response = await fetch(jp_fetch, "v1/ml/buffers", method="PUT", body="{}")

    assert response.headers["Allow"] == "GET, POST"
    assert error_of(response)["message"].endswith("use GET or POST")


@pytest.mark.parametrize(("pattern", "handler"), extension.extension_handlers())
def test_every_verb_is_authenticated_then_authorized(
    pattern: str, handler: type[web.RequestHandler]
) -> None:
    verbs = [
        verb
        for verb in ("get", "post", "put", "patch", "delete", "head")
        if getattr(handler, verb) is not getattr(web.RequestHandler, verb)
    ]

    for verb in verbs:
        outer = getattr(handler, verb)
        inner = outer.__wrapped__
        assert outer.__code__.co_qualname.startswith("authenticated"), (pattern, verb)
        assert inner.__code__.co_qualname.startswith("authorized"), (pattern, verb)


@pytest.mark.parametrize(
    "jp_server_config",
    [{"ServerApp": {"jpserver_extensions": {"bufferkit": True}}}],
)
async def test_large_read_leaves_the_event_loop_free(
    jp_fetch: Fetch, jp_serverapp: ServerApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = 100_000
    await create(jp_fetch, "big", max_size=rows)
    registry: Registry = jp_serverapp.web_app.settings["bufferkit_registry"]
    registry.get("big").append_columns(np.arange(rows, dtype=np.float64)[None, :])
    started = threading.Event()
    release = threading.Event()

    def held_rows_json(snapshot: Snapshot) -> bytes:
        # Block the worker thread until the light request has completed. On the
        # event loop this would block the loop, so the light request would wait.
        started.set()
        release.wait(timeout=10)
        return rows_json(snapshot)

    monkeypatch.setattr(handlers, "rows_json", held_rows_json)

    heavy = asyncio.ensure_future(fetch(jp_fetch, "v1/ml/buffers/big/data"))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
    light = await fetch(jp_fetch, "v1/ml/buffers")
    heavy_was_pending = not heavy.done()
    release.set()
    read = await heavy

    assert light.code == 200
    assert heavy_was_pending
    assert read.code == 200
    assert json.loads(read.body)["returned_rows"] == rows
