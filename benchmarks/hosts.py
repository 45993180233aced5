"""Server processes the benchmark drives: the standalone server, the baseline and
(when installed) the Jupyter extension.

Each host is a process of its own on a free loopback port. A host has its base URL,
the path of the buffers API under it and the headers a request needs (a token for the
hosts that require one), so the same scenarios run against any of them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from benchmarks.client import Connection

_START_TIMEOUT = 60.0
#: Path of the trivial handler that ``benchmarks.jupyter_baseline`` adds.
JUPYTER_TRIVIAL_PATH = "bufferkit-benchmark/trivial"


@dataclass
class Host:
    """A server process serving HTTP on ``127.0.0.1:port``."""

    label: str
    process: subprocess.Popen[bytes]
    port: int
    base_path: str = "/"
    token: str | None = None
    #: Path of a trivial handler served by this host, to measure beside it.
    trivial_path: str | None = None
    output: list[bytes] = field(default_factory=list)
    cleanup_dirs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        if self.process.stdout is None:
            return
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def pid(self) -> int:
        """Process id of the server, for memory readings."""
        return self.process.pid

    @property
    def buffers_path(self) -> str:
        """Absolute path of the buffers collection."""
        return f"{self.base_path}v1/ml/buffers"

    def headers(self) -> dict[str, str]:
        """Headers every request to this host carries."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        return headers

    def connect(self) -> Connection:
        """Open a keep-alive connection to the host."""
        return Connection(self.port, self.headers())

    def stop(self) -> None:
        """Stop the process with SIGTERM (SIGKILL after a grace period)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        for path in self.cleanup_dirs:
            shutil.rmtree(path, ignore_errors=True)


def _launch(
    command: list[str], pattern: re.Pattern[bytes], env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int, list[bytes]]:
    """Start ``command`` and wait for a line matching ``pattern`` (group 1: port)."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert process.stdout is not None
    seen: list[bytes] = []
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = pattern.search(line)
        if match:
            return process, int(match.group(1)), seen
    process.kill()
    process.wait()
    text = b"".join(seen).decode(errors="replace")
    raise RuntimeError(f"{command[:4]} failed to start, output:\n{text}")


def _clean_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BUFFERKIT_", "JUPYTER_"))
    }


def start_standalone(label: str = "standalone") -> Host:
    """Start ``bufferkit serve`` on a free loopback port."""
    command = [
        sys.executable,
        "-m",
        "bufferkit",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]
    process, port, seen = _launch(
        command, re.compile(rb"serving on http://127\.0\.0\.1:(\d+)/"), _clean_env()
    )
    return Host(label, process, port, output=seen)


def start_baseline() -> Host:
    """Start the trivial Tornado handler server on a free loopback port."""
    command = [sys.executable, "-m", "benchmarks.baseline_server"]
    process, port, seen = _launch(
        command, re.compile(rb"serving on http://127\.0\.0\.1:(\d+)/"), _clean_env()
    )
    return Host("baseline", process, port, output=seen)


def extension_available() -> bool:
    """Return whether the bufferkit Jupyter server extension can be imported."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("bufferkit.extension", "jupyter_server")
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_jupyter() -> Host:
    """Start ``jupyter server`` with the bufferkit extension, a token and
    throw-away configuration, data and runtime folders."""
    root = tempfile.mkdtemp(prefix="bufferkit-bench-jupyter-")
    env = _clean_env()
    for name in ("config", "data", "runtime"):
        path = os.path.join(root, name)
        os.makedirs(path)
        env[f"JUPYTER_{name.upper()}_DIR"] = path
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["IPYTHONDIR"] = os.path.join(root, "ipython")

    token = secrets.token_hex(16)
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--ServerApp.jpserver_extensions="
        "{'bufferkit': True, 'benchmarks.jupyter_baseline': True}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.log_level=WARN",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")

    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    host = Host(
        "jupyter",
        process,
        port,
        token=token,
        trivial_path=f"/{JUPYTER_TRIVIAL_PATH}",
        cleanup_dirs=[root],
    )

    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with host.connect() as connection:
                status, _ = connection.request("GET", host.buffers_path)
            if status == 200:
                return host
        except OSError:
            pass
        time.sleep(0.2)
    host.stop()
    text = b"".join(host.output).decode(errors="replace")
    raise RuntimeError(f"jupyter server with bufferkit failed to start:\n{text}")
