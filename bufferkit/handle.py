"""``BufferHandle``: one buffer on the server, read and written as Polars frames."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import polars as pl

from bufferkit.errors import InvalidRequestError

if TYPE_CHECKING:
    from bufferkit.client import Client

#: Rows sent per request when appending a large DataFrame or list of rows.
APPEND_CHUNK_ROWS = 50_000

Row = Mapping[str, float]


class BufferHandle:
    """One buffer on the server; every call is a request, nothing is cached.

    Examples
    --------
    >>> import polars as pl
    >>> from bufferkit import Client
    >>> sensors = Client().create("sensors", ["x", "y"], max_size=3)
    >>> sensors.append(pl.DataFrame({"x": [1, 2, 3, 4], "y": [0.5, 0.25, 0.0, 1.0]}))
    {'rows_appended': 4, 'current_size': 3, 'rows_dropped': 1}
    >>> sensors.to_polars()
    shape: (3, 2)
    ┌─────┬──────┐
    │ x   ┆ y    │
    │ --- ┆ ---  │
    │ f64 ┆ f64  │
    ╞═════╪══════╡
    │ 2.0 ┆ 0.25 │
    │ 3.0 ┆ 0.0  │
    │ 4.0 ┆ 1.0  │
    └─────┴──────┘
    >>> sensors.data(last=1).to_dicts()
    [{'x': 4.0, 'y': 1.0}]
    >>> sensors.info()["current_size"]
    3
    """

    def __init__(self, client: Client, model: Mapping[str, Any]) -> None:
        self._client = client
        self._name: str = model["name"]
        self._columns: tuple[str, ...] = tuple(model["columns"])

    @property
    def name(self) -> str:
        """The buffer's name."""
        return self._name

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names in schema order."""
        return self._columns

    def __repr__(self) -> str:
        return f"BufferHandle({self._name!r}, columns={self._columns!r})"

    def info(self) -> dict[str, Any]:
        """Return the buffer's model: sizes, columns, windows, memory, creation."""
        reply: dict[str, Any] = self._client.request("GET", _buffer_path(self._name))
        return reply

    def append(self, rows: Row | Sequence[Row] | pl.DataFrame) -> dict[str, int]:
        """Append one row, a list of rows or a DataFrame with the buffer's columns.

        Every request is stored whole or not at all. More than ``APPEND_CHUNK_ROWS``
        rows go in several requests; a DataFrame is checked before the first one
        (columns, numeric types, no nulls, finite values), so that a bad frame
        stores nothing. Returns ``{rows_appended, current_size, rows_dropped}``
        summed over the requests.
        """
        path = f"{_buffer_path(self._name)}/append"
        if isinstance(rows, pl.DataFrame):
            bodies: Iterator[dict[str, Any] | bytes] = _frame_bodies(
                rows, self._columns
            )
        elif isinstance(rows, Mapping):
            bodies = iter([{"data": [rows]}])
        else:
            bodies = _list_bodies(rows)
        total = {"rows_appended": 0, "current_size": 0, "rows_dropped": 0}
        for body in bodies:
            if isinstance(body, bytes):
                reply = self._client.request("POST", path, raw=body)
            else:
                reply = self._client.request("POST", path, body)
            total["rows_appended"] += reply["rows_appended"]
            total["rows_dropped"] += reply["rows_dropped"]
            total["current_size"] = reply["current_size"]
        return total

    def data(
        self, *, offset: int = 0, limit: int | None = None, last: int | None = None
    ) -> pl.DataFrame:
        """Return rows as float64 columns in schema order, oldest first.

        ``offset`` and ``limit`` page from the oldest row held; ``last`` returns the
        newest rows instead and cannot be combined with them.
        """
        query: dict[str, int] = {}
        if offset:
            query["offset"] = offset
        if limit is not None:
            query["limit"] = limit
        if last is not None:
            query["last"] = last
        path = f"{_buffer_path(self._name)}/data"
        if query:
            path += "?" + urlencode(query)
        reply = self._client.request("GET", path)
        schema = dict.fromkeys(reply["columns"], pl.Float64)
        if not reply["data"]:
            return pl.DataFrame(schema=schema)
        return pl.DataFrame(reply["data"], schema=schema, orient="row")

    def to_polars(self) -> pl.DataFrame:
        """Return every row held as a DataFrame of float64 columns."""
        return self.data()

    def features(self) -> dict[str, float | None]:
        """Return the newest row's rolling, lag and delta features by name.

        A feature is ``None`` while the buffer contains too few rows for it.
        """
        path = f"{_buffer_path(self._name)}/features"
        reply: dict[str, Any] = self._client.request("GET", path)
        features: dict[str, float | None] = reply["features"]
        return features


def _buffer_path(name: str) -> str:
    return f"v1/ml/buffers/{quote(name, safe='')}"


def _list_bodies(rows: Sequence[Row]) -> Iterator[dict[str, Any]]:
    if not rows:
        yield {"data": []}
    for start in range(0, len(rows), APPEND_CHUNK_ROWS):
        yield {"data": list(rows[start : start + APPEND_CHUNK_ROWS])}


def _frame_bodies(frame: pl.DataFrame, columns: tuple[str, ...]) -> Iterator[bytes]:
    """Check ``frame`` against the buffer's columns and encode it in chunks."""
    _check_frame(frame, columns)
    frame = frame.select(pl.col(name).cast(pl.Float64) for name in columns)
    if frame.height == 0:
        yield b'{"data":[]}'
    for start in range(0, frame.height, APPEND_CHUNK_ROWS):
        chunk = frame.slice(start, APPEND_CHUNK_ROWS)
        yield b'{"data":' + chunk.write_json().encode() + b"}"


def _check_frame(frame: pl.DataFrame, columns: tuple[str, ...]) -> None:
    if sorted(frame.columns) != sorted(columns):
        msg = (
            f"Schema mismatch: buffer expects columns {list(columns)}, "
            f"got {frame.columns}"
        )
        raise InvalidRequestError(msg)
    for name, dtype in frame.schema.items():
        if not dtype.is_numeric():
            msg = f"Column {name!r} has type {dtype}: cast it to a number type first"
            raise InvalidRequestError(msg)
    for name in columns:
        series = frame[name].cast(pl.Float64)
        if series.null_count() or not series.is_finite().all():
            msg = (
                f"Column {name!r} contains null, NaN or infinite values: "
                "drop or fill them before appending"
            )
            raise InvalidRequestError(msg)
