"""Real servers on loopback ports, started as separate processes for the tests."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

_ADDRESS = re.compile(rb"serving on (http://127\.0\.0\.1:\d+/)")


@dataclass
class ServerProcess:
    """A ``bufferkit serve`` process, the base URL it listens on and its log.

    A thread keeps reading the process's output into ``output``, so that the pipe
    never fills up and blocks the server.
    """

    process: subprocess.Popen[bytes]
    base_url: str
    token: str | None
    output: list[bytes] = field(default_factory=list)
    #: Where a Jupyter server writes its ``jpserver-*.json`` information file.
    runtime_dir: Path | None = None

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def log(self) -> str:
        """Everything the server printed so far."""
        return b"".join(self.output).decode()

    def stop(self) -> int:
        """Send SIGTERM, wait for a clean exit and return the exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        finally:
            self._reader.join(timeout=5)
            if self.process.stdout is not None:
                self.process.stdout.close()


def start_standalone(*args: str, token: str | None = None) -> ServerProcess:
    """Run ``bufferkit serve --port 0`` with ``args`` and wait for its address."""
    command = [sys.executable, "-m", "bufferkit", "serve", "--port", "0", *args]
    if token:
        command += ["--token", token]
    env = {key: value for key, value in os.environ.items() if key != "BUFFERKIT_TOKEN"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    seen = b""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen += line
        match = _ADDRESS.search(line)
        if match:
            server = ServerProcess(process, match.group(1).decode(), token)
            server.output.append(seen)
            return server
    process.kill()
    raise RuntimeError(f"bufferkit serve did not start; output:\n{seen.decode()}")


def free_port() -> int:
    """Return a TCP port that is free on the loopback address right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_jupyter(
    home: Path, *args: str, base_url: str = "/a@b/", token: str | None = None
) -> ServerProcess:
    """Run ``jupyter server`` with the bufferkit extension and wait until it answers.

    Its config, data, runtime and root directories are under ``home``, so that no
    user configuration or other server's files take part.
    """
    token = token or secrets.token_hex(16)
    port = free_port()
    dirs = {name: home / name for name in ("config", "data", "runtime", "root")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key != "BUFFERKIT_TOKEN"}
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTER_PLATFORM_DIRS="1",
    )
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.base_url={base_url}",
        f"--ServerApp.root_dir={dirs['root']}",
        "--ServerApp.jpserver_extensions={'bufferkit': True}",
        *args,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    server = ServerProcess(
        process,
        f"http://127.0.0.1:{port}{base_url}",
        token,
        runtime_dir=dirs["runtime"],
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(
                urllib.request.Request(
                    server.base_url + "api/status",
                    headers={"Authorization": f"token {token}"},
                ),
                timeout=5,
            ):
                return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"jupyter server did not start; output:\n{server.log}")
