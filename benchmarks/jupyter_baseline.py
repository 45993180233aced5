"""A trivial handler inside the Jupyter server, the baseline of the Jupyter host.

It is a jupyter-server ``APIHandler`` behind the same token authentication as the
bufferkit extension. It responds with a fixed small JSON body, so the ratio of the
extension to it is bufferkit's own cost in that host. The benchmark enables it
beside the bufferkit extension with ``--ServerApp.jpserver_extensions``.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from benchmarks.hosts import JUPYTER_TRIVIAL_PATH

_REPLY = b'{"rows_appended":1,"current_size":10000,"rows_dropped":1}'


class TrivialAPIHandler(APIHandler):
    """Respond to authenticated requests with a fixed JSON body."""

    @web.authenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(_REPLY)

    @web.authenticated
    def post(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(_REPLY)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "benchmarks.jupyter_baseline"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    web_app = server_app.web_app
    route = url_path_join(web_app.settings["base_url"], JUPYTER_TRIVIAL_PATH)
    web_app.add_handlers(".*$", [(route, TrivialAPIHandler)])
