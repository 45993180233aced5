"""Limits on both hosts: body size, buffer count, total memory and buffer names."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from bufferkit.config import BufferConfig
from bufferkit.errors import LimitExceededError
from bufferkit.registry import Registry
from tests.http import Api, Response
from tests.servers import ServerProcess, start_jupyter, start_standalone

BUFFERS = "v1/ml/buffers"
BODY_LIMIT = 4096
MAX_BUFFERS = 3
#: Room for a 400-row and a 100-row buffer of two columns, 8 bytes a value.
MEMORY_LIMIT = 8000
LIMIT_OPTIONS = {
    "max_body_size": BODY_LIMIT,
    "max_buffers": MAX_BUFFERS,
    "max_total_memory": MEMORY_LIMIT,
}


@pytest.fixture(scope="module")
def limited_standalone() -> Iterator[ServerProcess]:
    """A standalone server started with every limit option."""
    flags = [
        part
        for option, value in LIMIT_OPTIONS.items()
        for part in (f"--{option.replace('_', '-')}", str(value))
    ]
    server = start_standalone(*flags)
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="module")
def limited_jupyter(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """A Jupyter server whose extension is configured with every limit."""
    options = [
        f"--BufferkitExtension.{option}={value}"
        for option, value in LIMIT_OPTIONS.items()
    ]
    server = start_jupyter(tmp_path_factory.mktemp("limited"), *options)
    yield server
    server.stop()


@pytest.fixture(params=["standalone", "jupyter"])
def limited(request: pytest.FixtureRequest) -> Iterator[tuple[ServerProcess, Api]]:
    """A limited server of each host and its client; buffers are deleted after."""
    server: ServerProcess = request.getfixturevalue(f"limited_{request.param}")
    api = Api(server.base_url, server.token)
    yield server, api
    for model in api.get(BUFFERS).json["buffers"]:
        api.delete(f"{BUFFERS}/{model['name']}")


def names(api: Api) -> list[str]:
    """Return the names of the buffers a server holds."""
    return [model["name"] for model in api.get(BUFFERS).json["buffers"]]


def rows_body(count: int) -> bytes:
    """Return an append body of ``count`` rows of a column ``x``."""
    return json.dumps({"data": [{"x": 1.5}] * count}).encode()


def raw_post(
    server: ServerProcess, path: str, head: dict[str, str], chunks: list[bytes]
) -> Response:
    """POST ``chunks`` under ``head`` on a socket and read the answer.

    With ``Transfer-Encoding: chunked`` in ``head``, each chunk is framed; otherwise
    the chunks are sent as they are, whatever ``Content-Length`` claims.
    """
    parts = urlsplit(server.base_url)
    headers = {"Host": f"{parts.hostname}:{parts.port}", **head}
    if server.token:
        headers["Authorization"] = f"token {server.token}"
    lines = [f"POST {parts.path}{path} HTTP/1.1"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    chunked = headers.get("Transfer-Encoding") == "chunked"
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for chunk in chunks:
            framed = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
            sock.sendall(framed)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        return Response(
            reply.status,
            {key.lower(): value for key, value in reply.getheaders()},
            reply.read(),
        )


# Body size.


def test_body_over_limit_413(limited: tuple[ServerProcess, Api]) -> None:
    _, api = limited
    api.create("small", ["x"], max_size=500)
    body = rows_body(400)

    response = api.post(f"{BUFFERS}/small/append", raw=body)

    assert response.status == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert f"limit of {BODY_LIMIT} bytes" in response.json["error"]["message"]
    assert api.data("small").json["current_size"] == 0


def test_declared_size_answered_before_body(
    limited: tuple[ServerProcess, Api],
) -> None:
    server, api = limited
    api.create("small", ["x"], max_size=500)
    head = {"Content-Type": "application/json", "Content-Length": str(10**9)}

    # Only the first bytes of the gigabyte are ever sent: the answer must not wait.
    response = raw_post(server, f"{BUFFERS}/small/append", head, [b'{"data": ['])

    assert response.status == 413
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.body)["error"]["message"] == (
        f"Request body of {10**9} bytes is over the server's limit of "
        f"{BODY_LIMIT} bytes: send the rows in smaller batches"
    )


def test_chunked_body_over_limit_413(limited: tuple[ServerProcess, Api]) -> None:
    server, api = limited
    api.create("small", ["x"], max_size=500)
    body = rows_body(400)
    chunks = [body[start : start + 512] for start in range(0, len(body), 512)]
    head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}

    response = raw_post(server, f"{BUFFERS}/small/append", head, chunks)

    assert response.status == 413
    assert json.loads(response.body)["error"]["code"] == "payload_too_large"
    assert api.data("small").json["current_size"] == 0


def test_chunked_body_under_limit_accepted(
    limited: tuple[ServerProcess, Api],
) -> None:
    server, api = limited
    api.create("small", ["x"], max_size=500)
    body = rows_body(100)
    chunks = [body[start : start + 100] for start in range(0, len(body), 100)]
    head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}

    response = raw_post(server, f"{BUFFERS}/small/append", head, chunks)

    assert response.status == 200
    assert api.data("small").json["current_size"] == 100


# Buffer count and total memory.


def test_create_past_max_buffers_409(limited: tuple[ServerProcess, Api]) -> None:
    _, api = limited
    for index in range(MAX_BUFFERS):
        api.create(f"b{index}", ["x"], max_size=1)

    response = api.post(BUFFERS, {"name": "extra", "columns": ["x"], "max_size": 1})

    assert response.status == 409
    assert response.json["error"] == {
        "code": "limit_exceeded",
        "message": f"Cannot create buffer 'extra': the server holds its maximum of "
        f"{MAX_BUFFERS} buffers; delete one first",
    }
    assert names(api) == ["b0", "b1", "b2"]


def test_create_past_total_memory_409(limited: tuple[ServerProcess, Api]) -> None:
    _, api = limited
    api.create("large", ["x", "y"], max_size=400)
    api.create("fills", ["x", "y"], max_size=100)

    response = api.post(BUFFERS, {"name": "one_more", "columns": ["x"], "max_size": 1})

    assert response.status == 409
    assert response.json["error"] == {
        "code": "limit_exceeded",
        "message": "Cannot create buffer 'one_more': it reserves 8 bytes (max_size 1 "
        "x 1 columns x 8) and the buffers already reserve 8000 of the server's "
        "maximum total memory of 8000 bytes; delete a buffer or lower max_size",
    }
    assert names(api) == ["large", "fills"]


def test_list_shows_reserved_memory_and_limit(
    limited: tuple[ServerProcess, Api],
) -> None:
    _, api = limited
    api.create("large", ["x", "y"], max_size=400)
    api.create("small", ["x"], max_size=100)
    api.append("small", [{"x": 1.0}] * 3)

    listed = api.get(BUFFERS).json
    api.delete(f"{BUFFERS}/large")
    after_delete = api.get(BUFFERS).json

    assert listed["total_memory_bytes"] == 3 * 8
    assert listed["reserved_memory_bytes"] == (400 * 2 + 100) * 8
    assert listed["max_total_memory"] == MEMORY_LIMIT
    assert after_delete["reserved_memory_bytes"] == 100 * 8


def test_single_buffer_over_total_memory_409(
    limited: tuple[ServerProcess, Api],
) -> None:
    _, api = limited

    response = api.post(BUFFERS, {"name": "huge", "columns": ["x"], "max_size": 1001})

    assert response.status == 409
    assert "maximum total memory of 8000 bytes" in response.json["error"]["message"]
    assert names(api) == []


def test_delete_frees_reserved_memory(limited: tuple[ServerProcess, Api]) -> None:
    _, api = limited
    api.create("large", ["x", "y"], max_size=500)
    api.delete(f"{BUFFERS}/large")

    response = api.post(BUFFERS, {"name": "again", "columns": ["x"], "max_size": 1000})

    assert response.status == 201


def test_full_buffers_keep_appending(limited: tuple[ServerProcess, Api]) -> None:
    _, api = limited
    api.create("large", ["x", "y"], max_size=400)
    api.create("fills", ["x", "y"], max_size=100)
    rows = [{"x": index, "y": index} for index in range(150)]

    for _ in range(4):
        response = api.append("large", rows)
        assert response.status == 200
    response = api.append("fills", rows)

    assert response.status == 200
    assert response.json == {
        "rows_appended": 150,
        "current_size": 100,
        "rows_dropped": 50,
    }


# Names that are not path segments.

BAD_NAMES = [
    "a/b",
    "a b",
    "..",
    ".",
    "%2e%2e",
    "a%2Fb",
    "café",
    "名前",
    "-leading",
    "_leading",
    "tab\there",
    "new\nline",
    "x" * 129,
    "",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_create_bad_name_400(api: Api, name: str) -> None:
    response = api.post(BUFFERS, {"name": name, "columns": ["x"]})

    assert response.status == 400
    assert response.json["error"]["code"] == "invalid_request"
    message = response.json["error"]["message"]
    assert message.startswith("Invalid buffer name"), message
    assert names(api) == []


ENCODED_NAMES = [
    "a%2Fb",
    "a%2fb",
    "%2e%2e",
    "%2E",
    "a%20b",
    "caf%C3%A9",
    "%E5%90%8D",
    "%00",
    "%ff",
    "..",
    "-leading",
]


@pytest.mark.parametrize("segment", ENCODED_NAMES)
@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/append"),
        ("GET", "/data"),
        ("GET", "/features"),
        ("GET", "/features/history"),
    ],
)
def test_bad_name_on_routes_404(
    api: Api, segment: str, method: str, suffix: str
) -> None:
    api.create("a", ["x"])

    response = api.request(method, f"{BUFFERS}/{segment}{suffix}", {"data": [{"x": 1}]})

    assert response.status == 404, response.body
    assert response.headers["content-type"] == "application/json"
    assert response.json["error"]["code"] == "not_found"
    assert names(api) == ["a"]
    assert api.data("a").json["current_size"] == 0


def test_max_buffers_one_singular() -> None:
    registry = Registry(max_buffers=1)
    registry.create(BufferConfig("only", ("x",)))

    with pytest.raises(LimitExceededError) as raised:
        registry.create(BufferConfig("extra", ("x",)))

    assert raised.value.message == (
        "Cannot create buffer 'extra': the server holds its maximum of 1 buffer; "
        "delete one first"
    )
