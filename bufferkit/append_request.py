"""Request bodies of ``BufferHandle.append``, from rows, columns or a DataFrame."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from bufferkit._frames import (
    arrow_stream,
    check_frame,
    columns_frame,
    encode_columns,
    encode_rows,
    rows_frame,
)
from bufferkit.ingest_arrow import ARROW_STREAM_TYPE

#: Rows sent per request when appending a large DataFrame or list of rows.
APPEND_CHUNK_ROWS = 50_000

#: Types that ``append`` takes as the values of one column.
_COLUMN_TYPES = (list, tuple, np.ndarray, pl.Series)

Row = Mapping[str, float]
Columns = Mapping[str, Sequence[float]]


def append_bodies(
    rows: Row | Sequence[Row] | Columns | pl.DataFrame, columns: tuple[str, ...]
) -> Iterator[tuple[bytes, str | None]]:
    """Check ``rows`` whole, then yield each request's body and content type.

    A row, and a list of at most ``APPEND_CHUNK_ROWS`` rows or columns of at most
    that many values, is one JSON request that the server checks. Everything else
    is checked here first and sent as Arrow IPC streams of ``APPEND_CHUNK_ROWS``
    rows.
    """
    if isinstance(rows, pl.DataFrame):
        frame = check_frame(rows, columns)
    elif isinstance(rows, Mapping):
        data = _columns_of(rows)
        if data is None:
            yield encode_rows([rows]), None
            return
        if max(len(values) for values in data.values()) <= APPEND_CHUNK_ROWS:
            yield encode_columns(data), None
            return
        frame = columns_frame(data, columns)
    elif isinstance(rows, Sequence) and not isinstance(rows, str | bytes):
        if len(rows) <= APPEND_CHUNK_ROWS:
            yield (
                encode_rows(rows if isinstance(rows, list | tuple) else list(rows)),
                None,
            )
            return
        frame = rows_frame(rows, columns)
    else:
        raise TypeError(_append_type_message(rows))
    if frame.height == 0:
        # The server's message for an empty body, as for an empty list.
        yield b'{"data":[]}', None
    for start in range(0, frame.height, APPEND_CHUNK_ROWS):
        yield arrow_stream(frame.slice(start, APPEND_CHUNK_ROWS)), ARROW_STREAM_TYPE


def _columns_of(rows: Mapping[Any, Any]) -> dict[Any, Any] | None:
    """Return the value lists of a dict of columns, or ``None`` for one row.

    Raises ``TypeError`` for a dict with both lists and single values.
    """
    listed = [name for name, value in rows.items() if isinstance(value, _COLUMN_TYPES)]
    if not listed:
        return None
    if len(listed) < len(rows):
        single = next(name for name in rows if name not in listed)
        msg = (
            f"append() got a dict mixing lists and single values: column "
            f"{listed[0]!r} is a {type(rows[listed[0]]).__name__} and column "
            f"{single!r} a {type(rows[single]).__name__}; give every column a list "
            "of values, or every column one number for a single row"
        )
        raise TypeError(msg)
    return {
        name: value.to_list() if isinstance(value, pl.Series) else value
        for name, value in rows.items()
    }


def _append_type_message(rows: object) -> str:
    accepted = (
        "append() takes a dict (one row), a list of dicts (rows), a dict of lists "
        "(columns) or a Polars DataFrame"
    )
    if isinstance(rows, pl.LazyFrame):
        return "append() got a Polars LazyFrame: call .collect() first"
    if isinstance(rows, pl.Series):
        return (
            f"append() got a Polars Series ({rows.name!r}): {accepted}, such as "
            "series.to_frame()"
        )
    return f"{accepted}; got {type(rows).__name__}"
