"""Tornado handlers of the ``/v1/ml/buffers`` API, shared by both hosts.

The handlers read the registry and the limits from the application settings
(``bufferkit_registry``, ``bufferkit_max_body_size``, ``bufferkit_token``), so the
standalone server and the Jupyter extension mount the same classes. Every error,
from a bad body to an unknown route, a wrong verb or a bug, leaves here as
``{"error": {"code", "message"}}`` with the status of its ``BufferkitError`` class.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from tornado import web
from tornado.ioloop import IOLoop

from bufferkit.codec import dumps, loads, rows_json
from bufferkit.config import BufferConfig
from bufferkit.errors import (
    BufferkitError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
)
from bufferkit.ingest import decode_append
from bufferkit.registry import Registry

log = logging.getLogger("bufferkit")

T = TypeVar("T")

DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024
#: Bodies and reads larger than these run on a worker thread, off the event loop.
OFFLOAD_BODY_BYTES = 256 * 1024
OFFLOAD_ROWS = 5_000
_VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_INTEGER = re.compile(r"[0-9]{1,18}")
_JSON_TYPE = "application/json"


@web.stream_request_body
class BufferkitHandler(web.RequestHandler):
    """Base of every API handler: settings, body limit, token and JSON errors."""

    #: Query arguments that belong to the host, not to the API, and are ignored.
    host_query_arguments: tuple[str, ...] = ()

    _chunks: list[bytes]
    _received: int

    @property
    def registry(self) -> Registry:
        """The server process's registry of buffers."""
        registry: Registry = self.settings["bufferkit_registry"]
        return registry

    @property
    def max_body_size(self) -> int:
        """Largest request body accepted, in bytes."""
        return int(self.settings.get("bufferkit_max_body_size", DEFAULT_MAX_BODY_SIZE))

    def prepare(self) -> None:
        """Check the token and the declared body size before the body arrives."""
        self._chunks = []
        self._received = 0
        token = self.settings.get("bufferkit_token")
        if token:
            self._check_token(token)
        declared = self.request.headers.get("Content-Length")
        if (
            declared is not None
            and declared.isdigit()
            and int(declared) > self.max_body_size
        ):
            raise self._too_large(int(declared))

    def _check_token(self, token: str) -> None:
        scheme, _, supplied = self.request.headers.get("Authorization", "").partition(
            " "
        )
        if scheme.lower() not in ("token", "bearer") or not hmac.compare_digest(
            supplied.strip().encode(), token.encode()
        ):
            raise UnauthorizedError(
                "Missing or invalid token: send the header "
                "'Authorization: token <TOKEN>' with the token the server was "
                "started with"
            )

    def data_received(self, chunk: bytes) -> None:
        """Collect the body, keeping nothing past the limit."""
        self._received += len(chunk)
        if self._received <= self.max_body_size:
            self._chunks.append(chunk)
        else:
            self._chunks.clear()

    @property
    def body(self) -> bytes:
        """The request body; raises if it went over the limit while streaming."""
        if self._received > self.max_body_size:
            raise self._too_large(self._received)
        return b"".join(self._chunks)

    def _too_large(self, size: int) -> PayloadTooLargeError:
        msg = (
            f"Request body of {size} bytes is over the server's limit of "
            f"{self.max_body_size} bytes: send the rows in smaller batches"
        )
        return PayloadTooLargeError(msg)

    def send_json(self, value: Any, status: int = 200) -> None:
        """Finish the request with ``value`` as JSON."""
        self.finish_json_bytes(dumps(value), status)

    def finish_json_bytes(self, payload: bytes, status: int = 200) -> None:
        """Finish the request with an already encoded JSON body."""
        self.set_status(status)
        self.set_header("Content-Type", _JSON_TYPE)
        self.finish(payload)

    def compute_etag(self) -> str | None:
        """Skip Tornado's ETag: hashing every large read costs more than it saves."""
        return None

    async def offload(self, work: Callable[[], T], *, heavy: bool) -> T:
        """Run ``work`` on a worker thread when ``heavy``, else inline."""
        if not heavy:
            return work()
        return await IOLoop.current().run_in_executor(None, work)

    def allowed_methods(self) -> list[str]:
        """Return the HTTP verbs this handler implements."""
        return [
            verb
            for verb in _VERBS
            if getattr(type(self), verb.lower())
            is not getattr(web.RequestHandler, verb.lower())
        ]

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Log bugs with their traceback; client errors are answered, not logged."""
        if isinstance(value, BufferkitError | web.HTTPError):
            return
        name = self.path_args[0] if self.path_args else "-"
        log.error(
            "Internal error in %s %s (buffer %s)",
            self.request.method,
            self.request.path,
            name,
            exc_info=(typ, value, tb) if typ and value else None,
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Render every error in the ``{"error": {"code", "message"}}`` shape."""
        exception = kwargs.get("exc_info", (None, None, None))[1]
        error = self._as_bufferkit_error(status_code, exception)
        self.set_status(error.status)
        if error.status == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        if error.status == 401:
            self.set_header("WWW-Authenticate", "token")
        self.set_header("Content-Type", _JSON_TYPE)
        self.finish(dumps(error.to_dict()))

    def _as_bufferkit_error(
        self, status_code: int, exception: BaseException | None
    ) -> BufferkitError:
        if isinstance(exception, BufferkitError):
            return exception
        if status_code == 404:
            return NotFoundError(f"No route for {self.request.path}")
        if status_code == 405:
            msg = (
                f"Method {self.request.method} is not allowed on {self.request.path}: "
                f"use {' or '.join(self.allowed_methods())}"
            )
            return MethodNotAllowedError(msg)
        if status_code < 500:
            reason = (
                exception.log_message if isinstance(exception, web.HTTPError) else None
            )
            return BufferkitError(
                reason or self._reason, status=status_code, code="invalid_request"
            )
        return BufferkitError("Internal server error; the server log has the details")


class BuffersHandler(BufferkitHandler):
    """``/v1/ml/buffers``: list buffers and create one."""

    def get(self) -> None:
        """List every buffer in creation order, with the memory they use."""
        models = [buffer.model() for buffer in self.registry.buffers()]
        self.send_json(
            {
                "buffers": models,
                "total_buffers": len(models),
                "total_memory_bytes": sum(model["memory_bytes"] for model in models),
            }
        )

    def post(self) -> None:
        """Create a buffer from ``{name, columns, max_size, rolling_windows, ...}``."""
        config = BufferConfig.from_json(loads(self.body))
        buffer = self.registry.create(config)
        self.set_header("Location", f"{self.request.path.rstrip('/')}/{buffer.name}")
        self.send_json(buffer.model(), status=201)


class BufferHandler(BufferkitHandler):
    """``/v1/ml/buffers/{name}``: describe or delete one buffer."""

    def get(self, name: str) -> None:
        """Describe the buffer."""
        self.send_json(self.registry.get(name).model())

    def delete(self, name: str) -> None:
        """Delete the buffer and report the memory it held."""
        buffer = self.registry.delete(name)
        self.send_json({"deleted": name, "memory_freed_bytes": buffer.memory_bytes})


class AppendHandler(BufferkitHandler):
    """``/v1/ml/buffers/{name}/append``: append rows, all or none."""

    async def post(self, name: str) -> None:
        """Append ``{"data": [row, ...]}``; a rejected body stores nothing."""
        buffer = self.registry.get(name)
        body = self.body
        block = await self.offload(
            lambda: decode_append(body, buffer.columns),
            heavy=len(body) > OFFLOAD_BODY_BYTES,
        )
        result = buffer.append_columns(block)
        self.send_json(
            {
                "rows_appended": result.rows_appended,
                "current_size": result.current_size,
                "rows_dropped": result.rows_dropped,
            }
        )


class DataHandler(BufferkitHandler):
    """``/v1/ml/buffers/{name}/data``: read rows by page or the newest ones."""

    async def get(self, name: str) -> None:
        """Read rows selected by ``offset``/``limit`` or ``last``, oldest first."""
        buffer = self.registry.get(name)
        query = self.query_integers(("offset", "limit", "last"))
        last = query.get("last")
        if last is not None and ("offset" in query or "limit" in query):
            raise InvalidRequestError(
                "Use either 'last' or 'offset'/'limit', not both: 'last' already "
                "selects the newest rows"
            )
        snapshot = buffer.read(
            offset=query.get("offset", 0), limit=query.get("limit"), last=last
        )
        rows = await self.offload(
            lambda: rows_json(snapshot), heavy=snapshot.values.shape[1] > OFFLOAD_ROWS
        )
        head = dumps(
            {
                "name": buffer.name,
                "current_size": snapshot.current_size,
                "columns": list(snapshot.columns),
                "returned_rows": snapshot.values.shape[1],
                "offset": snapshot.offset,
            }
        )
        self.finish_json_bytes(head[:-1] + b',"data":' + rows + b"}")

    def query_integers(self, names: tuple[str, ...]) -> dict[str, int]:
        """Parse the query as non-negative integer parameters among ``names``."""
        values: dict[str, int] = {}
        for key, raw in self.request.query_arguments.items():
            if key in self.host_query_arguments:
                continue
            if key not in names:
                msg = (
                    f"Unknown query parameter {key!r}: valid parameters are "
                    + ", ".join(repr(name) for name in names)
                )
                raise InvalidRequestError(msg)
            if len(raw) > 1:
                raise InvalidRequestError(
                    f"Query parameter {key!r} is given more than once"
                )
            text = raw[0].decode("utf-8", "replace")
            if not _INTEGER.fullmatch(text):
                msg = (
                    f"Query parameter {key!r} must be a non-negative integer, "
                    f"got {text!r}"
                )
                raise InvalidRequestError(msg)
            values[key] = int(text)
        return values


class FeaturesHandler(BufferkitHandler):
    """``/v1/ml/buffers/{name}/features``: rolling, lag and delta features."""

    async def get(self, name: str) -> None:
        """Compute the features of the newest row."""
        buffer = self.registry.get(name)
        config = buffer.config
        widest = max((*config.rolling_windows, *config.lag_periods), default=0)
        latest = await self.offload(buffer.features, heavy=widest > OFFLOAD_ROWS)
        self.send_json(
            {
                "name": buffer.name,
                "row_count": latest.row_count,
                "feature_count": len(latest.values),
                "features": latest.values,
            }
        )


class NotFoundHandler(BufferkitHandler):
    """Any other path under the API: 404 in the JSON error shape, whatever the verb."""

    def prepare(self) -> None:
        """Reject the request once the token check has passed."""
        super().prepare()
        raise NotFoundError(f"No route for {self.request.path}")


def api_handlers(prefix: str) -> list[tuple[str, type[BufferkitHandler]]]:
    """Return the API's routes under ``prefix``, which ends in ``/``."""
    buffers = f"{prefix}v1/ml/buffers"
    name = "([^/]+)"
    return [
        (f"{buffers}/?", BuffersHandler),
        (f"{buffers}/{name}/?", BufferHandler),
        (f"{buffers}/{name}/append/?", AppendHandler),
        (f"{buffers}/{name}/data/?", DataHandler),
        (f"{buffers}/{name}/features/?", FeaturesHandler),
        (f"{prefix}v1/ml/.*", NotFoundHandler),
    ]
