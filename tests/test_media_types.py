"""Content-Type and Content-Encoding of request bodies, on both hosts.

JSON is read with no type, a JSON type, ``text/plain`` or curl's default form type;
an append also reads Arrow IPC, a stream or a file; any other type gets 415.
``Content-Encoding: gzip`` is decompressed, within the body limit; any other
encoding gets 415.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator

import polars as pl
import pytest

from tests.http import Api, Response
from tests.servers import ServerProcess, start_jupyter, start_standalone

BUFFERS = "v1/ml/buffers"
APPEND = f"{BUFFERS}/m/append"
ROW = json.dumps({"data": [{"x": 1.5, "y": 2.5}]}).encode()
STREAM = "application/vnd.apache.arrow.stream"
FILE = "application/vnd.apache.arrow.file"
JSON_ACCEPTED = (
    "application/json, application/*+json, text/plain, "
    "application/x-www-form-urlencoded or no Content-Type"
)
BODY_LIMIT = 4096


@pytest.fixture
def held(api: Api) -> Api:
    """A buffer ``m`` of columns ``x`` and ``y``, empty."""
    api.create("m", ["x", "y"])
    return api


def send(api: Api, body: bytes, path: str = APPEND, **headers: str | None) -> Response:
    """POST ``body`` with ``headers`` (underscores as dashes; ``None``: not sent)."""
    sent = {key.replace("_", "-"): value for key, value in headers.items()}
    return api.request("POST", path, raw=body, headers=sent)


def size(api: Api) -> int:
    """Return the number of rows buffer ``m`` holds."""
    size: int = api.get(f"{BUFFERS}/m").json["current_size"]
    return size


def ipc(frame: pl.DataFrame, *, file: bool) -> bytes:
    """Return ``frame`` as an Arrow IPC file or stream."""
    sink = io.BytesIO()
    if file:
        frame.write_ipc(sink)
    else:
        frame.write_ipc_stream(sink)
    return sink.getvalue()


# Content-Type


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/vnd.api+json",
        "text/plain",
        "application/x-www-form-urlencoded",
    ],
)
def test_json_types_are_read_as_json(held: Api, content_type: str | None) -> None:
    columns = json.dumps({"columns": {"x": [3], "y": [4]}}).encode()
    rows = json.dumps({"data": [{"x": 5, "y": 6}, {"x": 7, "y": 8}]}).encode()
    for body in (ROW, columns, rows):
        response = send(held, body, Content_Type=content_type)
        assert response.status == 200, response.body
    assert size(held) == 4

    create = json.dumps({"name": "n", "columns": ["x"]}).encode()
    response = send(held, create, BUFFERS, Content_Type=content_type)
    assert response.status == 201, response.body


@pytest.mark.parametrize(
    "content_type",
    [
        "text/csv",
        "application/vnd.apache.parquet",
        "multipart/form-data; boundary=xyz",
        "application/octet-stream",
        "application/xml",
        "application/jsonl",
    ],
)
def test_other_types_get_415(held: Api, content_type: str) -> None:
    response = send(held, ROW, Content_Type=content_type)

    assert response.status == 415
    assert response.json["error"] == {
        "code": "unsupported_media_type",
        "message": f"Unsupported Content-Type {content_type!r}: send JSON "
        f"({JSON_ACCEPTED}) or Arrow IPC ({STREAM} or {FILE})",
    }
    assert size(held) == 0


@pytest.mark.parametrize("content_type", ["text/csv", STREAM, FILE])
def test_create_takes_json_only(api: Api, content_type: str) -> None:
    body = json.dumps({"name": "n", "columns": ["x"]}).encode()

    response = send(api, body, BUFFERS, Content_Type=content_type)

    assert response.status == 415
    assert response.json["error"] == {
        "code": "unsupported_media_type",
        "message": f"Unsupported Content-Type {content_type!r}: this route takes "
        f"JSON: {JSON_ACCEPTED}",
    }
    assert api.get(f"{BUFFERS}/n").status == 404


# Arrow IPC files


@pytest.mark.parametrize("content_type", [STREAM, FILE])
def test_arrow_file_is_read_whichever_arrow_type(held: Api, content_type: str) -> None:
    frame = pl.DataFrame({"y": [2.5, 3.5], "x": [1, 2]})
    for file in (True, False):
        response = send(held, ipc(frame, file=file), Content_Type=content_type)
        assert response.status == 200, response.body
    assert held.data("m", "?format=columns").json["data"] == {
        "x": [1.0, 2.0, 1.0, 2.0],
        "y": [2.5, 3.5, 2.5, 3.5],
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            ipc(pl.DataFrame({"x": [1.0], "z": [2.0]}), file=True),
            "Schema mismatch: buffer expects columns ['x', 'y'], got ['x', 'z']",
        ),
        (
            ipc(pl.DataFrame({"x": [1.0, None], "y": [2.0, 3.0]}), file=True),
            "Column 'x' contains null (row 1): values must be finite numbers",
        ),
        (
            ipc(pl.DataFrame(schema={"x": pl.Float64, "y": pl.Float64}), file=True),
            "Arrow file must contain at least one row",
        ),
        (
            ipc(pl.DataFrame({"x": [1.0], "y": [2.0]}), file=True)[:-10],
            "Request body is not a complete Arrow IPC file: it starts with the "
            "magic bytes ARROW1 but does not end with them",
        ),
    ],
    ids=["schema", "null", "empty", "cut"],
)
def test_bad_arrow_file_stores_nothing(held: Api, body: bytes, message: str) -> None:
    assert send(held, ROW).status == 200

    response = send(held, body, Content_Type=FILE)

    assert response.status == 400, response.body
    assert response.json["error"] == {"code": "invalid_request", "message": message}
    assert size(held) == 1


# Content-Encoding


def test_gzip_bodies_are_decompressed(held: Api) -> None:
    frame = pl.DataFrame({"x": [3.0], "y": [4.0]})
    for body, content_type in (
        (ROW, None),
        (ROW, "application/json"),
        (ipc(frame, file=False), STREAM),
        (ipc(frame, file=True), FILE),
    ):
        response = send(
            held,
            gzip.compress(body),
            Content_Type=content_type,
            Content_Encoding="gzip",
        )
        assert response.status == 200, response.body
    two_members = gzip.compress(b'{"data": [') + gzip.compress(b'{"x": 1, "y": 2}]}')
    assert send(held, two_members, Content_Encoding="gzip").status == 200
    assert send(held, ROW, Content_Encoding="identity").status == 200
    assert size(held) == 6

    create = gzip.compress(json.dumps({"name": "n", "columns": ["x"]}).encode())
    assert send(held, create, BUFFERS, Content_Encoding="gzip").status == 201


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (ROW, "Error -3 while decompressing data: incorrect header check"),
        (gzip.compress(ROW)[:-12], "it is empty or cut short"),
        (b"", "it is empty or cut short"),
    ],
)
def test_corrupt_gzip_is_400(held: Api, body: bytes, reason: str) -> None:
    response = send(held, body, Content_Encoding="gzip")

    assert response.status == 400
    assert response.json["error"] == {
        "code": "invalid_request",
        "message": f"Request body is not valid gzip data: {reason}",
    }
    assert size(held) == 0


@pytest.mark.parametrize("encoding", ["br", "deflate", "compress", "zstd", "gzip, br"])
def test_other_encodings_get_415(api: Api, encoding: str) -> None:
    api.create("m", ["x", "y"])
    body = zlib.compress(ROW) if encoding == "deflate" else ROW

    for path in (APPEND, BUFFERS):
        response = send(api, body, path, Content_Encoding=encoding)
        assert response.status == 415
        assert response.json["error"] == {
            "code": "unsupported_media_type",
            "message": f"Unsupported Content-Encoding {encoding!r}: send the body "
            "uncompressed or with Content-Encoding: gzip",
        }
    assert size(api) == 0


@pytest.fixture(scope="module")
def small_standalone() -> Iterator[ServerProcess]:
    """A standalone server with a body limit of ``BODY_LIMIT`` bytes."""
    server = start_standalone("--max-body-size", str(BODY_LIMIT))
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="module")
def small_jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A Jupyter server whose extension has a body limit of ``BODY_LIMIT`` bytes."""
    server = start_jupyter(
        tmp_path_factory.mktemp("small"),
        f"--BufferkitExtension.max_body_size={BODY_LIMIT}",
    )
    yield server
    server.stop()


@pytest.mark.parametrize("host", ["standalone", "jupyter"])
def test_decompressed_size_counts_against_the_limit(
    request: pytest.FixtureRequest, host: str
) -> None:
    server: ServerProcess = request.getfixturevalue(f"small_{host}")
    api = Api(server.base_url, server.token)
    api.create("m", ["x", "y"])
    try:
        fits = json.dumps({"data": [{"x": 1, "y": 2}] * 200}).encode()
        assert len(fits) <= BODY_LIMIT
        over = json.dumps({"data": [{"x": 1, "y": 2}] * 250}).encode()
        assert len(over) > BODY_LIMIT
        bomb = gzip.compress(b" " * 3_000_000 + ROW)
        assert len(bomb) <= BODY_LIMIT

        assert send(api, gzip.compress(fits), Content_Encoding="gzip").status == 200
        for body in (gzip.compress(over), bomb):
            response = send(api, body, Content_Encoding="gzip")
            assert response.status == 413
            assert response.json["error"] == {
                "code": "payload_too_large",
                "message": f"Request body of {len(body)} gzip-compressed bytes is "
                f"over the server's limit of {BODY_LIMIT} bytes once decompressed: "
                "send the rows in smaller batches",
            }
        assert size(api) == 200
    finally:
        api.delete(f"{BUFFERS}/m")
