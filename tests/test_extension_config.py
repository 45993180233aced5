"""The extension's options on a real ``jupyter server``: valid ones apply, an
invalid one keeps the API from loading rather than serving it without limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.http import Api
from tests.servers import start_jupyter

BUFFERS = "v1/ml/buffers"
INVALID_MEMORY = (
    "BufferkitExtension.max_total_memory must be an integer of at least 0 "
    "(0 means no limit), got -5"
)


def test_valid_options_apply(tmp_path: Path) -> None:
    server = start_jupyter(
        tmp_path,
        "--BufferkitExtension.max_buffers=1",
        "--BufferkitExtension.max_body_size=50",
        "--BufferkitExtension.max_total_memory=800",
    )
    try:
        api = Api(server.base_url, server.token)
        first = api.post(BUFFERS, {"name": "a", "columns": ["x"], "max_size": 100})
        second = api.post(BUFFERS, {"name": "b", "columns": ["x"], "max_size": 1})
        large = api.post(f"{BUFFERS}/a/append", raw=b" " * 51)
    finally:
        server.stop()

    assert first.status == 201
    assert second.status == 409
    assert "maximum of 1 buffer" in second.json["error"]["message"]
    assert large.status == 413


def test_invalid_option_unloads_api(tmp_path: Path) -> None:
    server = start_jupyter(
        tmp_path,
        "--BufferkitExtension.max_buffers=1",
        "--BufferkitExtension.max_body_size=50",
        "--BufferkitExtension.max_total_memory=-5",
    )
    try:
        api = Api(server.base_url, server.token)
        listed = api.get(BUFFERS)
        created = api.post(BUFFERS, {"name": "a", "columns": ["x"]})
    finally:
        server.stop()

    assert listed.status == 404
    assert created.status == 404
    error_lines = [line for line in server.log.splitlines() if line.startswith("[E")]
    assert any(
        f"bufferkit API not loaded: invalid option: {INVALID_MEMORY}" in line
        for line in error_lines
    ), server.log


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("max_body_size=0", "max_body_size must be an integer of at least 1, got 0"),
        ("max_buffers=abc", "max_buffers must be an integer of at least 0"),
    ],
)
def test_invalid_option_is_named(tmp_path: Path, option: str, message: str) -> None:
    server = start_jupyter(tmp_path, f"--BufferkitExtension.{option}")
    try:
        listed = Api(server.base_url, server.token).get(BUFFERS)
    finally:
        server.stop()

    assert listed.status == 404
    assert message in server.log


def test_invalid_option_stops_a_strict_server(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="did not start") as failure:
        start_jupyter(
            tmp_path,
            "--BufferkitExtension.max_total_memory=-5",
            "--ServerApp.reraise_server_extension_failures=True",
        )

    assert INVALID_MEMORY in str(failure.value)
