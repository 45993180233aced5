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
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from tornado import web
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from bufferkit.append_body import decode_append_body, decode_single_row
from bufferkit.buffer import page_bounds
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
from bufferkit.features import feature_names
from bufferkit.formats import JSON_TYPE, Encoded, encode_page, with_data
from bufferkit.media import body_kind, decode_content
from bufferkit.openapi import openapi_document
from bufferkit.query import (
    MAX_HISTORY_ROWS_HEADER,
    MAX_HISTORY_VALUES,
    PAGE_PARAMETERS,
    PageQuery,
    check_query_names,
    max_history_rows,
    parse_page_query,
)
from bufferkit.registry import Registry
from bufferkit.streaming import PART_VALUES, STREAMED_FORMATS, encode_in_parts

log = logging.getLogger("bufferkit")

T = TypeVar("T")

DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024
#: Bodies and reads larger than these run on a worker thread, off the event loop.
OFFLOAD_BODY_BYTES = 256 * 1024
OFFLOAD_ROWS = 5_000
#: Compressed bodies larger than this are decompressed on a worker thread.
OFFLOAD_COMPRESSED_BYTES = 16 * 1024
_VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
OPENAPI_PATH = "v1/ml/openapi.json"


def implements_verb(handler: type[web.RequestHandler], verb: str) -> bool:
    """Return whether ``handler`` overrides Tornado's default method of ``verb``."""
    method = verb.lower()
    return getattr(handler, method, None) is not getattr(
        web.RequestHandler, method, None
    )


@web.stream_request_body
class BufferkitHandler(web.RequestHandler):
    """Base of every API handler: settings, body limit, token and JSON errors."""

    #: Query arguments that belong to the host, not to the API, and are ignored.
    host_query_arguments: tuple[str, ...] = ()
    #: Query parameters of the route; any other gets 400. ``None``: not checked.
    query_parameters: tuple[str, ...] | None = ()

    _chunks: list[bytes]
    _received: int
    _kept_headers: dict[str, str]

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
        """Check the token, the query and the declared body size before the body
        arrives."""
        self._chunks = []
        self._received = 0
        self._kept_headers = {}
        token = self.settings.get("bufferkit_token")
        if token:
            self._check_token(token)
        if self.query_parameters is not None and self._method_implemented():
            check_query_names(
                self.request.query_arguments,
                self.query_parameters,
                ignored=self.host_query_arguments,
            )
        declared = self.request.headers.get("Content-Length")
        if (
            declared is not None
            and declared.isdigit()
            and int(declared) > self.max_body_size
        ):
            raise self._too_large(int(declared))

    def _method_implemented(self) -> bool:
        """Return whether the route implements the request's verb, else 405 comes
        first."""
        return implements_verb(type(self), self.request.method or "")

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """Decode a path segment leniently: a name that is not UTF-8 is not found.

        Tornado answers 400 for such a segment; every other name that no buffer
        has gets 404, and so does this one, with the bytes shown as U+FFFD.
        """
        if name is None:
            return value.decode("utf-8", "replace")
        return super().decode_argument(value, name)

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

    def decoded_body(self) -> bytes:
        """The request body decoded from its ``Content-Encoding`` (gzip or none)."""
        return decode_content(
            self.body,
            self.request.headers.get("Content-Encoding"),
            self.max_body_size,
        )

    async def offload_decoded_body(self) -> bytes:
        """``decoded_body``, on a worker thread if it has much to decompress."""
        return await self.offload(
            self.decoded_body,
            heavy="Content-Encoding" in self.request.headers
            and self._received > OFFLOAD_COMPRESSED_BYTES,
        )

    def keep_header(self, name: str, value: str) -> None:
        """Set a response header that an error response of this request keeps."""
        self._kept_headers[name] = value
        self.set_header(name, value)

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
        self.set_header("Content-Type", JSON_TYPE)
        self.finish(payload)

    def finish_typed(self, body: bytes, content_type: str) -> None:
        """Finish the request with ``body`` of ``content_type``."""
        self.set_header("Content-Type", content_type)
        self.finish(body)

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
        return [verb for verb in _VERBS if implements_verb(type(self), verb)]

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
        for header, value in getattr(self, "_kept_headers", {}).items():
            self.set_header(header, value)
        self.set_header("Content-Type", JSON_TYPE)
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
        """List every buffer in creation order, with the memory used and reserved."""
        self.send_json(self.registry.list_model())

    async def post(self) -> None:
        """Create a buffer from ``{name, columns, max_size, rolling_windows, ...}``.

        The body is JSON, of any type ``bufferkit.media`` reads as JSON, plain or
        gzip-compressed.
        """
        body_kind(self.request.headers.get("Content-Type"), arrow=False)
        config = BufferConfig.from_json(loads(await self.offload_decoded_body()))
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
    """``/v1/ml/buffers/{name}/append``: append rows, all or none.

    The body is JSON, ``{"data": [row, ...]}`` or ``{"columns": {column: [value,
    ...]}}``, or Arrow IPC, a stream or a file, sent with ``Content-Type:
    application/vnd.apache.arrow.stream`` or ``application/vnd.apache.arrow.file``.
    Any other content type gets 415. ``Content-Encoding: gzip`` bodies are
    decompressed, and their decompressed size counts against the body limit. Any
    other encoding gets 415.
    """

    async def post(self, name: str) -> None:
        """Append the rows of the body; a rejected body stores nothing."""
        buffer = self.registry.get(name)
        content_type = self.request.headers.get("Content-Type")
        body_kind(content_type, arrow=True)
        body = await self.offload_decoded_body()
        row = decode_single_row(body, content_type, buffer.columns)
        if row is not None:
            result = buffer.append_row(row)
        else:
            block = await self.offload(
                lambda: decode_append_body(body, content_type, buffer.columns),
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
    """``/v1/ml/buffers/{name}/data``: read rows by page or the newest ones.

    ``format`` picks the response: ``json`` (default) sends
    ``{name, current_size, columns, returned_rows, offset, data}`` with ``data`` a
    list of row objects, oldest first; ``columns`` sends the same object with
    ``data`` an object of column arrays, ``{column: [value, ...]}``; ``csv``,
    ``parquet`` and ``arrow`` (an Arrow IPC stream) send the rows alone as a file
    named ``<name>.csv``, ``<name>.parquet`` or ``<name>.arrows``.
    """

    query_parameters = PAGE_PARAMETERS

    async def get(self, name: str) -> None:
        """Read rows selected by ``offset``/``limit`` or ``last``, oldest first."""
        buffer = self.registry.get(name)
        query = self.page_query()
        snapshot = buffer.read(offset=query.offset, limit=query.limit, last=query.last)
        returned = snapshot.values.shape[1]
        head = {
            "name": buffer.name,
            "current_size": snapshot.current_size,
            "columns": list(snapshot.columns),
            "returned_rows": returned,
            "offset": snapshot.offset,
        }
        values = returned * len(snapshot.columns)
        if query.format in STREAMED_FORMATS and values > PART_VALUES:
            await self.send_in_parts(encode_in_parts(head, snapshot, query.format))
            return
        if query.format != "json":
            encoded = await self.offload(
                lambda: encode_page(
                    head, snapshot.to_polars(), query.format, stem=buffer.name
                ),
                heavy=returned > OFFLOAD_ROWS,
            )
            self.send_encoded(encoded)
            return
        rows = await self.offload(
            lambda: rows_json(snapshot), heavy=returned > OFFLOAD_ROWS
        )
        self.finish_json_bytes(with_data(head, rows))

    async def send_in_parts(self, parts: Iterator[bytes]) -> None:
        """Send a JSON body part by part, each encoded on a worker thread.

        The event loop serves other requests between parts, and waits for each
        part to reach the socket before encoding the next.
        """
        self.set_header("Content-Type", JSON_TYPE)
        try:
            while True:
                part = await self.offload(lambda: next(parts, None), heavy=True)
                if part is None:
                    break
                self.write(part)
                await self.flush()
        except StreamClosedError:
            log.debug("Client closed the connection during %s", self.request.path)
            return
        self.finish()

    def page_query(self) -> PageQuery:
        """Parse ``offset``, ``limit``, ``last`` and ``format`` from the query."""
        return parse_page_query(
            self.request.query_arguments, ignored=self.host_query_arguments
        )

    def send_encoded(self, encoded: Encoded) -> None:
        """Finish the request with ``encoded``, as a download if it is a file."""
        if encoded.filename is not None:
            self.set_header(
                "Content-Disposition", f'attachment; filename="{encoded.filename}"'
            )
        self.finish_typed(encoded.body, encoded.content_type)


class FeatureHistoryHandler(DataHandler):
    """``/v1/ml/buffers/{name}/features/history``: the features of every row.

    Each row contains its features from its own point of view over the rows held,
    null where a window or lag reaches back before the oldest row held, so the last
    row of the history equals ``/features``. The query is the same as
    for ``/data``. The JSON formats send
    ``{name, row_count, columns, returned_rows, offset, data}`` where ``columns``
    lists the feature names; the files are named ``<name>-features.<extension>``.

    One request returns at most ``MAX_HISTORY_VALUES`` (10,000,000) values, rows
    times features; a page over that gets 400 before anything is computed, naming
    the maximum rows allowed. Every response of a buffer's history, errors included,
    has the header ``X-Bufferkit-Max-History-Rows`` with that maximum,
    ``MAX_HISTORY_VALUES // features``, to page with ``offset``/``limit`` or
    ``last``.
    """

    async def get(self, name: str) -> None:
        """Compute the features of each row of the selected page."""
        buffer = self.registry.get(name)
        config = buffer.config
        features = len(
            feature_names(config.columns, config.rolling_windows, config.lag_periods)
        )
        max_rows = max_history_rows(features)
        self.keep_header(MAX_HISTORY_ROWS_HEADER, str(max_rows))
        query = self.page_query()
        _, start, stop = page_bounds(
            buffer.current_size, query.offset, query.limit, query.last
        )
        rows = stop - start
        if rows > max_rows:
            msg = (
                f"Feature history of {rows} rows x {features} features is "
                f"{rows * features} values, over the limit of {MAX_HISTORY_VALUES} "
                f"values per request: select at most {max_rows} rows per request "
                "for this buffer, paging with 'offset' and 'limit' or using 'last'"
            )
            raise InvalidRequestError(msg)
        # Window values the history reduces: a rough measure of its cost.
        work = rows * len(config.columns) * (sum(config.rolling_windows) + 1)

        def compute() -> Encoded:
            history = buffer.feature_history(
                offset=query.offset, limit=query.limit, last=query.last
            )
            head = {
                "name": buffer.name,
                "row_count": history.row_count,
                "columns": history.frame.columns,
                "returned_rows": history.returned_rows,
                "offset": history.offset,
            }
            return encode_page(
                head,
                history.frame,
                query.format,
                stem=f"{buffer.name}-features",
                rows=history.returned_rows,
            )

        self.send_encoded(await self.offload(compute, heavy=work > OFFLOAD_ROWS * 10))


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


class OpenApiHandler(BufferkitHandler):
    """``/v1/ml/openapi.json``: the OpenAPI 3.1 description of this API."""

    def get(self) -> None:
        """Send the description, with this host's base URL as its server URL."""
        base = self.request.path[: -len(OPENAPI_PATH)] or "/"
        self.send_json(openapi_document(base))


class NotFoundHandler(BufferkitHandler):
    """Any other path under the API: 404 in the JSON error shape, whatever the verb."""

    query_parameters = None

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
        (f"{buffers}/{name}/features/history/?", FeatureHistoryHandler),
        (f"{prefix}{OPENAPI_PATH}", OpenApiHandler),
        (f"{prefix}v1/ml/.*", NotFoundHandler),
    ]
