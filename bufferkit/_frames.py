"""Checks and encodings of the rows a ``BufferHandle`` sends and reads.

A large append goes in several requests, so the client checks a DataFrame or a
list of rows whole before the first one, and a bad value in a late chunk stores
nothing. DataFrames are checked by their schema and values. Lists of rows are
checked by the server's own decoder, which raises the server's messages. Checked
rows are sent as Arrow IPC streams, and reads return Arrow IPC streams too.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import orjson
import polars as pl

from bufferkit.errors import InvalidRequestError
from bufferkit.ingest import decode_append


def check_frame(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """Return ``frame`` as float64 columns in the order of ``columns``.

    Raises
    ------
    InvalidRequestError
        For other columns than ``columns``, a non-numeric column, or a null, NaN
        or infinite value, naming the first row that has one.

    Examples
    --------
    >>> check_frame(pl.DataFrame({"y": [2.5], "x": [1]}), ("x", "y")).to_dicts()
    [{'x': 1.0, 'y': 2.5}]
    >>> check_frame(pl.DataFrame({"x": [1.0, None]}), ("x",))
    Traceback (most recent call last):
    ...
    bufferkit.errors.InvalidRequestError: Column 'x' contains null, NaN or infinite \
values (row 1): drop or fill them before appending
    """
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
    checked = frame.select(pl.col(name).cast(pl.Float64) for name in columns)
    for series in checked.get_columns():
        finite = series.is_finite().fill_null(False)
        if not finite.all():
            row = int((~finite).arg_true()[0])
            msg = (
                f"Column {series.name!r} contains null, NaN or infinite values "
                f"(row {row}): drop or fill them before appending"
            )
            raise InvalidRequestError(msg)
    return checked


def rows_frame(rows: Sequence[Any], columns: tuple[str, ...]) -> pl.DataFrame:
    """Check a list of row objects as the server would and return it as a frame.

    The rows are encoded as the JSON body ``{"data": rows}`` and decoded by the
    server's decoder. A rejected list raises the message the server would send,
    naming the row (counted from the start of the list), the column and the value.

    Raises
    ------
    InvalidRequestError
        For an empty list, a row whose keys are not ``columns``, or a value that
        is not a finite number.

    Examples
    --------
    >>> rows_frame([{"x": 1, "y": 2.5}, {"y": 0.5, "x": 3}], ("x", "y")).to_dicts()
    [{'x': 1.0, 'y': 2.5}, {'x': 3.0, 'y': 0.5}]
    >>> rows_frame([{"x": 1}, {"x": "high"}], ("x",))
    Traceback (most recent call last):
    ...
    bufferkit.errors.InvalidRequestError: Column 'x' contains non-numeric value: \
'high' (row 1)
    """
    data = rows if isinstance(rows, list | tuple) else list(rows)
    body = orjson.dumps({"data": data}, option=orjson.OPT_SERIALIZE_NUMPY)
    block = decode_append(body, columns)
    return pl.DataFrame(
        {name: block[position] for position, name in enumerate(columns)},
        schema=dict.fromkeys(columns, pl.Float64),
    )


def arrow_stream(frame: pl.DataFrame) -> bytes:
    """Encode ``frame`` as an Arrow IPC stream.

    Examples
    --------
    >>> read_arrow(arrow_stream(pl.DataFrame({"x": [1.5]}))).to_dicts()
    [{'x': 1.5}]
    """
    sink = io.BytesIO()
    frame.write_ipc_stream(sink)
    return sink.getvalue()


def read_arrow(body: bytes) -> pl.DataFrame:
    """Decode an Arrow IPC stream into a DataFrame."""
    return pl.read_ipc_stream(io.BytesIO(body))
