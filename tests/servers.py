"""Real servers on loopback ports, started as separate processes for the tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

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
