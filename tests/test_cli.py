"""The ``bufferkit serve`` command: help, signals, token and body limit."""

from __future__ import annotations

import http.client
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from bufferkit.cli import build_parser
from tests.http import Api
from tests.servers import ServerProcess, start_standalone

BUFFERS = "v1/ml/buffers"
TOKEN = "s3cret-T0ken-for-tests"
UNAUTHORIZED = {
    "error": {
        "code": "unauthorized",
        "message": "Missing or invalid token: send the header 'Authorization: "
        "token <TOKEN>' with the token the server was started with",
    }
}
BODY_LIMIT = 200


def serve_help() -> str:
    """Return ``bufferkit serve --help`` with its whitespace collapsed."""
    result = subprocess.run(
        [sys.executable, "-m", "bufferkit", "serve", "--help"],
        capture_output=True,
        check=True,
        text=True,
    )
    return " ".join(result.stdout.split())


def option_help(text: str, option: str) -> str:
    """Return the help of ``option`` in ``text``: up to the next option."""
    options = text.split(" options: ", 1)[1]
    match = re.search(rf"(?:^| ){re.escape(option)} (.*?)(?= --[a-z-]+ |$)", options)
    assert match is not None, f"{option} is not documented"
    return match.group(1)


# Help.


@pytest.mark.parametrize(
    ("option", "documented"),
    [
        ("--host", "(default: 127.0.0.1"),
        ("--port", "(default: 14345)"),
        ("--token", "(default: $BUFFERKIT_TOKEN if set, else no token)"),
        ("--max-body-size", "(default: 67108864, 64 MiB)"),
        ("--log-level", "(default: INFO)"),
    ],
)
def test_help_documents_default(option: str, documented: str) -> None:
    text = serve_help()

    assert documented in option_help(text, option)


def test_help_body_size_in_bytes() -> None:
    text = serve_help()

    assert "in bytes" in option_help(text, "--max-body-size")


def test_help_port_zero_explained() -> None:
    text = serve_help()

    assert "0" in option_help(text, "--port").split("(default")[0]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["serve", "--port", "99999"], "--port: must be a TCP port from 0 to 65535"),
        (["serve", "--port", "abc"], "--port: must be a TCP port from 0 to 65535"),
        (["serve", "--max-body-size", "0"], "--max-body-size: must be a positive"),
        (["serve", "--max-buffers", "-1"], "--max-buffers: must be a non-negative"),
        (["collect", "--interval", "inf"], "--interval: must be a positive number"),
        (["collect", "--count", "0"], "--count: must be a positive integer"),
        (["collect", "--url", "not a url"], "--url: must be an http:// or https://"),
        (["collect", "--buffer", "bad name"], "--buffer: must be 1-128 characters"),
        (["serve", "--host", "999.1.1.1"], "--host: invalid IP address: '999.1.1.1'"),
        (["serve", "--host", "bad_name!"], "--host: invalid IP address or host name"),
        (["serve", "--log-level", "verbose"], "--log-level: invalid choice"),
        (["collect", "--max-size", "5"], "--max-size: must be at least 200, the"),
        (["collect", "--max-size", "199"], "--max-size: must be at least 200, the"),
    ],
)
def test_invalid_option_rejected(arguments: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bufferkit", *arguments],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert f"argument {message}" in result.stderr


@pytest.mark.parametrize("level", ["debug", "Debug", "DEBUG", "warning"])
def test_log_level_any_case(level: str) -> None:
    args = build_parser().parse_args(["serve", "--log-level", level])

    assert args.log_level == level.upper()


@pytest.mark.parametrize("host", ["localhost", "::1", "127.0.0.1", "0.0.0.0", ""])
def test_host_valid_accepted(host: str) -> None:
    args = build_parser().parse_args(["serve", "--host", host])

    assert args.host == host


def test_host_unresolvable_rejected(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["serve", "--host", "no-such-host.invalid"])

    assert exit_info.value.code == 2
    assert (
        "argument --host: cannot resolve host name 'no-such-host.invalid'"
    ) in capsys.readouterr().err


def test_max_size_help_gives_minimum() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bufferkit", "collect", "--help"],
        capture_output=True,
        check=True,
        text=True,
    )
    text = " ".join(result.stdout.split())

    assert "at least 200, the largest rolling window" in option_help(
        text, "--max-size MAX_SIZE"
    )


def test_max_size_minimum_accepted() -> None:
    args = build_parser().parse_args(["collect", "--max-size", "200"])

    assert args.max_size == 200


# Signals.


def test_sigterm_stops_cleanly() -> None:
    server = start_standalone()

    code = server.stop()

    assert code == 0
    assert "stopped" in server.log


def test_sigint_stops_cleanly() -> None:
    server = start_standalone()

    server.process.send_signal(signal.SIGINT)

    assert server.process.wait(timeout=15) == 0
    server.stop()
    assert "stopped" in server.log


def test_sigterm_with_open_connection() -> None:
    server = start_standalone()
    parts = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", f"/{BUFFERS}")
    connection.getresponse().read()

    code = server.stop()

    connection.close()
    assert code == 0
    assert "stopped" in server.log


# Token.


@pytest.fixture(scope="module")
def guarded() -> Iterator[ServerProcess]:
    """A server started with ``--token`` and debug logging."""
    server = start_standalone("--log-level", "DEBUG", token=TOKEN)
    yield server
    assert server.stop() == 0


@pytest.fixture
def anonymous(guarded: ServerProcess) -> Api:
    """A client of the guarded server that sends no token."""
    return Api(guarded.base_url)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", BUFFERS),
        ("POST", BUFFERS),
        ("GET", f"{BUFFERS}/any"),
        ("DELETE", f"{BUFFERS}/any"),
        ("POST", f"{BUFFERS}/any/append"),
        ("GET", f"{BUFFERS}/any/data"),
        ("GET", f"{BUFFERS}/any/features"),
        ("GET", "v1/ml/unknown"),
        ("GET", "elsewhere"),
    ],
)
def test_token_missing_401(anonymous: Api, method: str, path: str) -> None:
    response = anonymous.request(method, path, {"name": "x", "columns": ["x"]})

    assert response.status == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json == UNAUTHORIZED


@pytest.mark.parametrize(
    "header",
    [f"token {TOKEN}x", "token wrong", f"token {TOKEN[:-1]}", TOKEN, "token ", ""],
)
def test_token_wrong_401(anonymous: Api, header: str) -> None:
    response = anonymous.get(BUFFERS, headers={"Authorization": header})

    assert response.status == 401
    assert response.json == UNAUTHORIZED


def test_token_right_accepted(guarded: ServerProcess) -> None:
    api = Api(guarded.base_url, TOKEN)

    response = api.get(BUFFERS)

    assert response.status == 200


def test_token_unauthorized_stores_nothing(
    guarded: ServerProcess, anonymous: Api
) -> None:
    anonymous.post(BUFFERS, {"name": "sneaky", "columns": ["x"]})

    response = Api(guarded.base_url, TOKEN).get(BUFFERS)

    assert response.json["total_buffers"] == 0


def test_token_full_session_works() -> None:
    server = start_standalone(token=TOKEN)
    api = Api(server.base_url, TOKEN)

    api.create("guarded", ["x"], rolling_windows=[2])
    appended = api.append("guarded", [{"x": 1}, {"x": 3}])
    features = api.get(f"{BUFFERS}/guarded/features")
    deleted = api.delete(f"{BUFFERS}/guarded")

    assert server.stop() == 0
    assert appended.status == 200
    assert features.json["features"]["x_rolling_mean_2"] == 2.0
    assert deleted.status == 200


def test_token_never_logged() -> None:
    server = start_standalone("--log-level", "DEBUG", token=TOKEN)
    api = Api(server.base_url, TOKEN)
    api.create("logged", ["x"])
    api.append("logged", [{"x": "bad"}])
    api.get(f"{BUFFERS}/missing")
    Api(server.base_url).get(BUFFERS)

    assert server.stop() == 0

    assert "token required" in server.log
    assert TOKEN not in server.log


def test_token_never_logged_when_echoed_back() -> None:
    server = start_standalone("--log-level", "DEBUG", token=TOKEN)
    api = Api(server.base_url, TOKEN)
    api.get(f"{BUFFERS}/missing/data?token={TOKEN}")
    Api(server.base_url, TOKEN + "x").get(BUFFERS)
    Api(server.base_url).get(BUFFERS, headers={"Authorization": f"Bearer {TOKEN}1"})

    assert server.stop() == 0

    assert "missing/data" in server.log
    assert TOKEN not in server.log


# Binding beyond loopback.


def test_remote_bind_without_token_refused() -> None:
    command = [sys.executable, "-m", "bufferkit", "serve", "--host", "0.0.0.0"]

    result = subprocess.run(command, capture_output=True, text=True, timeout=30)

    assert result.returncode == 2
    assert (
        "cannot listen on '0.0.0.0' without a token: any machine that can "
        "connect could read and delete every buffer; pass --token TOKEN (or set "
        "BUFFERKIT_TOKEN), or --allow-remote to serve without one"
    ) in result.stderr


def test_remote_bind_allowed_with_warning() -> None:
    command = [sys.executable, "-m", "bufferkit", "serve", "--host", "0.0.0.0"]
    command += ["--port", "0", "--allow-remote"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            match = re.search(r"serving on http://0\.0\.0\.0:(\d+)/", line)
            if match:
                break
        assert match, "".join(seen)
        # Traffic goes to loopback only, whatever address the server listens on.
        api = Api(f"http://127.0.0.1:{match.group(1)}/")
        assert api.get(BUFFERS).status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)

    assert process.returncode == 0
    assert (
        "WARNING bufferkit: Listening on 0.0.0.0 without a token (--allow-remote): "
        "any machine that can connect can read, change and delete every buffer"
    ) in "".join(seen)


# Body limit.


@pytest.fixture(scope="module")
def limited() -> Iterator[ServerProcess]:
    """A server that accepts request bodies of at most ``BODY_LIMIT`` bytes."""
    server = start_standalone("--max-body-size", str(BODY_LIMIT))
    yield server
    assert server.stop() == 0


@pytest.fixture
def small(limited: ServerProcess) -> Iterator[Api]:
    """A client of the limited server; its buffers are deleted after each test."""
    api = Api(limited.base_url)
    yield api
    for model in api.get(BUFFERS).json["buffers"]:
        api.delete(f"{BUFFERS}/{model['name']}")


def too_large(size: int) -> dict[str, dict[str, str]]:
    """Return the 413 error body for a body of ``size`` bytes."""
    return {
        "error": {
            "code": "payload_too_large",
            "message": f"Request body of {size} bytes is over the server's limit of "
            f"{BODY_LIMIT} bytes: send the rows in smaller batches",
        }
    }


def rows_body(count: int) -> bytes:
    """Return an append body of ``count`` rows with a column ``x``."""
    rows = ", ".join('{"x": 1.5}' for _ in range(count))
    return b'{"data": [%s]}' % rows.encode()


def post_chunked(server: ServerProcess, path: str, body: bytes) -> tuple[int, bytes]:
    """POST ``body`` without a Content-Length, in chunks of 64 bytes."""
    parts = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    chunks = (body[start : start + 64] for start in range(0, len(body), 64))
    try:
        connection.request(
            "POST",
            f"/{path}",
            body=chunks,
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_body_over_limit_413(small: Api) -> None:
    small.create("tiny", ["x"])
    body = rows_body(30)

    response = small.post(f"{BUFFERS}/tiny/append", raw=body)

    assert response.status == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json == too_large(len(body))


def test_body_over_limit_stores_nothing(small: Api) -> None:
    small.create("tiny", ["x"])
    small.post(f"{BUFFERS}/tiny/append", raw=rows_body(30))

    response = small.data("tiny")

    assert response.json["current_size"] == 0


def test_body_at_limit_accepted(small: Api) -> None:
    small.create("tiny", ["x"])
    body = rows_body(15)
    body = body[:-1] + b" " * (BODY_LIMIT - len(body)) + b"}"

    response = small.post(f"{BUFFERS}/tiny/append", raw=body)

    assert len(body) == BODY_LIMIT
    assert response.status == 200


def test_create_over_limit_413(small: Api) -> None:
    columns = [f"column_{index}" for index in range(20)]

    response = small.post(BUFFERS, {"name": "wide", "columns": columns})

    assert response.status == 413
    assert small.get(BUFFERS).json["total_buffers"] == 0


def test_chunked_over_limit_413(small: Api, limited: ServerProcess) -> None:
    small.create("tiny", ["x"])
    body = rows_body(30)

    status, reply = post_chunked(limited, f"{BUFFERS}/tiny/append", body)

    assert status == 413
    assert reply == (
        b'{"error":{"code":"payload_too_large","message":"Request body of '
        + str(len(body)).encode()
        + b" bytes is over the server's limit of 200 bytes: send the rows in "
        b'smaller batches"}}'
    )
    assert small.data("tiny").json["current_size"] == 0
