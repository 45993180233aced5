"""``BufferHandle``: one buffer on the server, read and written as Polars frames."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import polars as pl

from bufferkit._frames import (
    read_arrow,
)
from bufferkit.append_request import Columns, Row, append_bodies
from bufferkit.errors import InvalidRequestError
from bufferkit.query import MAX_HISTORY_ROWS_HEADER
from bufferkit.transport import buffer_path

if TYPE_CHECKING:
    from bufferkit.client import Client

#: Export file formats of the server by file extension.
EXPORT_FORMATS = {".parquet": "parquet", ".csv": "csv"}


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
        # Maximum rows per history request, from the header of a history response.
        self._max_history_rows: int | None = None

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
        reply: dict[str, Any] = self._client.request("GET", buffer_path(self._name))
        return reply

    def append(
        self, rows: Row | Sequence[Row] | Columns | pl.DataFrame
    ) -> dict[str, int]:
        """Append one row, a list of rows, columns or a DataFrame.

        A DataFrame is sent as Arrow IPC streams, rows and columns as JSON. Every
        request is stored whole or not at all, and more than ``APPEND_CHUNK_ROWS``
        rows go in several requests, all checked on the client before the first
        one, so that a bad row stores nothing.

        Parameters
        ----------
        rows
            A row ``{column: value}``, a list of rows, columns
            ``{column: [value, ...]}`` (lists, tuples, NumPy arrays or Polars
            Series of equal length), or a DataFrame. Each has the buffer's columns
            in any order, with finite numbers: no nulls, NaN or infinities.

        Returns
        -------
        dict
            ``{rows_appended, current_size, rows_dropped}``, summed over the
            requests.

        Raises
        ------
        InvalidRequestError
            For a row or frame that does not fit the buffer, naming the row and
            column at fault; nothing of it is stored.
        TypeError
            For another type of ``rows``, or a dict mixing lists and numbers.

        Examples
        --------
        >>> import polars as pl
        >>> from bufferkit import Client
        >>> handle = Client().create("readings", ["x", "y"])
        >>> handle.append({"x": 1, "y": 0.5})
        {'rows_appended': 1, 'current_size': 1, 'rows_dropped': 0}
        >>> handle.append(pl.DataFrame({"y": [0.25, 0.0], "x": [2, 3]}))
        {'rows_appended': 2, 'current_size': 3, 'rows_dropped': 0}
        >>> handle.append({"x": [4, 5], "y": [1.0, 2.0]})
        {'rows_appended': 2, 'current_size': 5, 'rows_dropped': 0}
        >>> handle.append({"x": float("nan"), "y": 1.0})
        Traceback (most recent call last):
        ...
        bufferkit.errors.InvalidRequestError: Column 'x' contains non-finite value: \
nan (row 0): values must be finite numbers
        >>> handle.append(pl.DataFrame({"x": [1.0]}).lazy())
        Traceback (most recent call last):
        ...
        TypeError: append() got a Polars LazyFrame: call .collect() first
        """
        path = f"{buffer_path(self._name)}/append"
        total = {"rows_appended": 0, "current_size": 0, "rows_dropped": 0}
        for payload, content_type in append_bodies(rows, self._columns):
            reply = self._client.request(
                "POST", path, raw=payload, content_type=content_type
            )
            total["rows_appended"] += reply["rows_appended"]
            total["rows_dropped"] += reply["rows_dropped"]
            total["current_size"] = reply["current_size"]
        return total

    def data(
        self, *, offset: int = 0, limit: int | None = None, last: int | None = None
    ) -> pl.DataFrame:
        """Return rows as float64 columns in schema order, oldest first.

        Parameters
        ----------
        offset, limit
            Page from the oldest row held: skip ``offset`` rows, return at most
            ``limit``.
        last
            Return the newest ``last`` rows instead; not combined with ``offset``
            or ``limit``.

        Returns
        -------
        polars.DataFrame
            The rows, read as an Arrow IPC stream; with no rows, an empty frame
            that still has the buffer's columns.

        Examples
        --------
        >>> from bufferkit import Client
        >>> handle = Client().create("series", ["x"])
        >>> _ = handle.append([{"x": float(value)} for value in range(10)])
        >>> handle.data(offset=2, limit=3)["x"].to_list()
        [2.0, 3.0, 4.0]
        >>> handle.data(last=2)["x"].to_list()
        [8.0, 9.0]
        >>> empty = handle.data(offset=20)
        >>> empty.shape, empty.dtypes
        ((0, 1), [Float64])
        """
        return read_arrow(self._read("data", offset, limit, last, "arrow"))

    def to_polars(self) -> pl.DataFrame:
        """Return every row held as a DataFrame of float64 columns.

        Examples
        --------
        >>> from bufferkit import Client
        >>> handle = Client().create("pair", ["a", "b"])
        >>> _ = handle.append({"a": 1, "b": 2})
        >>> handle.to_polars().to_dicts()
        [{'a': 1.0, 'b': 2.0}]
        """
        return self.data()

    def feature_history(
        self, *, offset: int = 0, limit: int | None = None, last: int | None = None
    ) -> pl.DataFrame:
        """Return the features of each row, from that row's point of view.

        They are computed over the rows the buffer holds now: a window or lag that
        reaches back before the oldest row held is null. The last row of the
        history equals ``features()``. It pages like
        ``data()``. Without ``limit`` or ``last`` it returns every row from
        ``offset`` on, in as many requests as the server's limit of rows per
        history request needs; rows appended between those requests can make the
        pages overlap or skip rows.

        Returns
        -------
        polars.DataFrame
            One float64 column per feature, named as ``features()`` names them,
            with nulls where a row had too few rows before it for a feature.

        Examples
        --------
        >>> from bufferkit import Client
        >>> handle = Client().create("load", ["x"], lag_periods=[1])
        >>> _ = handle.append([{"x": 1.0}, {"x": 4.0}, {"x": 6.0}])
        >>> handle.feature_history()
        shape: (3, 2)
        ┌─────────┬───────────┐
        │ x_lag_1 ┆ x_delta_1 │
        │ ---     ┆ ---       │
        │ f64     ┆ f64       │
        ╞═════════╪═══════════╡
        │ null    ┆ null      │
        │ 1.0     ┆ 3.0       │
        │ 4.0     ┆ 2.0       │
        └─────────┴───────────┘
        >>> handle.feature_history(last=1).row(0) == tuple(handle.features().values())
        True
        """
        if limit is not None or last is not None:
            return self._history_page(offset, limit, last)
        max_rows = self._max_history_rows
        while True:
            headers: dict[str, str] = {}
            try:
                if max_rows is None:
                    return self._history_page(offset, None, None, headers)
                return self._history_pages(offset, max_rows, headers)
            except InvalidRequestError:
                # Over the server's limit: page within the limit it names.
                allowed = _max_rows(headers)
                if allowed is None or allowed == max_rows:
                    raise
                max_rows = allowed

    def _history_pages(
        self, offset: int, max_rows: int, headers: dict[str, str]
    ) -> pl.DataFrame:
        """Read the history from ``offset`` on in pages of ``max_rows`` rows."""
        pages: list[pl.DataFrame] = []
        while True:
            page = self._history_page(offset, max_rows, None, headers)
            pages.append(page)
            if page.height < max_rows:
                break
            offset += page.height
        return pages[0] if len(pages) == 1 else pl.concat(pages, how="vertical")

    def _history_page(
        self,
        offset: int,
        limit: int | None,
        last: int | None,
        headers: dict[str, str] | None = None,
    ) -> pl.DataFrame:
        """Read one page of the feature history, noting the server's row limit."""
        headers = {} if headers is None else headers
        path = self._read_path("features/history", offset, limit, last, "arrow")
        body: bytes = self._client.request(
            "GET", path, decode=False, reply_headers=headers
        )
        self._max_history_rows = _max_rows(headers) or self._max_history_rows
        frame = read_arrow(body)
        if frame.width == 0:
            # Without features the stream contains no column to count rows by.
            reply = self._client.request(
                "GET", self._read_path("features/history", offset, limit, last)
            )
            frame = pl.DataFrame([{}] * reply["returned_rows"])
        return frame

    def export(self, path: str | os.PathLike[str]) -> Path:
        """Write every row held to a Parquet or CSV file, chosen by its extension.

        The server encodes the file; its columns are the buffer's, float64.

        Parameters
        ----------
        path
            File to write, ending in ``.parquet`` or ``.csv``; replaced if it
            exists.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        ValueError
            For another extension, before any request.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import polars as pl
        >>> from bufferkit import Client
        >>> handle = Client().create("training", ["x", "y"])
        >>> _ = handle.append([{"x": 1.0, "y": 2.5}, {"x": 2.0, "y": 3.5}])
        >>> folder = tempfile.TemporaryDirectory()
        >>> written = handle.export(Path(folder.name) / "training.parquet")
        >>> written.name
        'training.parquet'
        >>> pl.read_parquet(written).equals(handle.to_polars())
        True
        >>> handle.export(Path(folder.name) / "training.xlsx")
        Traceback (most recent call last):
        ...
        ValueError: Cannot export to 'training.xlsx': unsupported extension \
'.xlsx'; use '.parquet' or '.csv'
        >>> folder.cleanup()
        """
        target = Path(path)
        suffix = target.suffix.lower()
        file_format = EXPORT_FORMATS.get(suffix)
        if file_format is None:
            extension = repr(suffix) if suffix else "none"
            supported = " or ".join(repr(known) for known in EXPORT_FORMATS)
            msg = (
                f"Cannot export to {target.name!r}: unsupported extension {extension}; "
                f"use {supported}"
            )
            raise ValueError(msg)
        target.write_bytes(self._read("data", 0, None, None, file_format))
        return target

    def features(self) -> dict[str, float | None]:
        """Return the newest row's rolling, lag and delta features by name.

        A feature is ``None`` while the buffer contains too few rows for it.
        """
        path = f"{buffer_path(self._name)}/features"
        reply: dict[str, Any] = self._client.request("GET", path)
        features: dict[str, float | None] = reply["features"]
        return features

    def _read(
        self,
        resource: str,
        offset: int,
        limit: int | None,
        last: int | None,
        file_format: str,
    ) -> bytes:
        """Return the body of a read of ``resource`` in ``file_format``."""
        path = self._read_path(resource, offset, limit, last, file_format)
        body: bytes = self._client.request("GET", path, decode=False)
        return body

    def _read_path(
        self,
        resource: str,
        offset: int,
        limit: int | None,
        last: int | None,
        file_format: str | None = None,
    ) -> str:
        query: dict[str, int | str] = {}
        if offset:
            query["offset"] = offset
        if limit is not None:
            query["limit"] = limit
        if last is not None:
            query["last"] = last
        if file_format is not None:
            query["format"] = file_format
        path = f"{buffer_path(self._name)}/{resource}"
        return f"{path}?{urlencode(query)}" if query else path


def _max_rows(headers: Mapping[str, str]) -> int | None:
    """Return the positive row limit in ``MAX_HISTORY_ROWS_HEADER``, if any."""
    text = headers.get(MAX_HISTORY_ROWS_HEADER.lower(), "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None
