"""The baseline: a trivial Tornado handler in a server process of its own.

It responds to every ``GET`` and ``POST`` with a fixed small JSON body, doing no
work, so its round trip is the cost of Tornado, the loopback and the client alone.
Run ``python -m benchmarks.baseline_server``; it prints the address it listens on.
"""

from __future__ import annotations

import asyncio
import signal

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

_REPLY = b'{"rows_appended":1,"current_size":10000,"rows_dropped":1}'


class TrivialHandler(web.RequestHandler):
    """Respond to any request with a fixed JSON body."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(_REPLY)

    def post(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(_REPLY)


async def main() -> None:
    app = web.Application([(r"/.*", TrivialHandler)], log_function=lambda _: None)
    sockets = bind_sockets(0, address="127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    print(f"baseline serving on http://127.0.0.1:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    asyncio.run(main())
