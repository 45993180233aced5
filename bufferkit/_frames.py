"""Checks and encodings of the rows a ``BufferHandle`` sends and reads.

A large append goes in several requests, so the client checks a DataFrame or a
list of rows whole before the first one, and a bad value in a late chunk stores
nothing. DataFrames are checked by their schema and values. Lists of rows and
dicts of columns are checked by the server's own decoders, which raise the server's
messages. Checked rows are sent as Arrow IPC streams, and reads return Arrow IPC
streams too.

JSON has no NaN or infinity, and orjson writes them as ``null``, which the server
would report as a null. So the JSON encoders here look for them first and name
them: ``nan``, ``inf`` or ``-inf``, with the row and the column.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import polars as pl

from bufferkit.errors import InvalidRequestError
from bufferkit.ingest import decode_append, schema_mismatch_message
from bufferkit.ingest_columns import decode_columns

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


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
    bufferkit.errors.InvalidRequestError: Column 'x' contains null (row 1): values \
must be finite numbers; drop or fill them before appending
    >>> check_frame(pl.DataFrame({"x": [1.0, 2.0, float("-inf")]}), ("x",))
    Traceback (most recent call last):
    ...
    bufferkit.errors.InvalidRequestError: Column 'x' contains non-finite value: -inf \
(row 2): values must be finite numbers; drop or fill them before appending
    """
    if sorted(frame.columns) != sorted(columns):
        raise InvalidRequestError(schema_mismatch_message(columns, frame.columns))
    for name, dtype in frame.schema.items():
        if not dtype.is_numeric():
            msg = f"Column {name!r} has type {dtype}: cast it to a number type first"
            raise InvalidRequestError(msg)
    checked = frame.select(pl.col(name).cast(pl.Float64) for name in columns)
    for series in checked.get_columns():
        finite = series.is_finite().fill_null(False)
        if not finite.all():
            row = int((~finite).arg_true()[0])
            value = series[row]
            if value is None:
                msg = f"Column {series.name!r} contains null (row {row}): {_FINITE}"
            else:
                msg = _non_finite_message(series.name, value, row)
            raise InvalidRequestError(f"{msg}; drop or fill them before appending")
    return checked


_FINITE = "values must be finite numbers"


def _non_finite_message(column: str, value: float, row: int) -> str:
    shown = repr(float(value))
    return (
        f"Column {column!r} contains non-finite value: {shown} (row {row}): {_FINITE}"
    )


def encode_rows(rows: Sequence[Any]) -> bytes:
    """Return the JSON append body ``{"data": rows}``.

    Raises
    ------
    InvalidRequestError
        For a NaN or infinite value, naming it, its column and its row (counted
        from the start of ``rows``), instead of sending it as ``null``.

    Examples
    --------
    >>> encode_rows([{"x": 1.5}])
    b'{"data":[{"x":1.5}]}'
    >>> encode_rows([{"x": 1.0}, {"x": float("nan")}])
    Traceback (most recent call last):
    ...
    bufferkit.errors.InvalidRequestError: Column 'x' contains non-finite value: nan \
(row 1): values must be finite numbers
    """
    body = orjson.dumps({"data": rows}, option=_JSON_OPTIONS)
    if b"null" in body:
        for row_number, row in enumerate(rows):
            if isinstance(row, Mapping):
                for column, value in row.items():
                    if _is_non_finite(value):
                        msg = _non_finite_message(str(column), value, row_number)
                        raise InvalidRequestError(msg)
    return body


def encode_columns(data: Mapping[str, Any]) -> bytes:
    """Return the JSON append body ``{"columns": data}`` of column value lists.

    Raises
    ------
    InvalidRequestError
        For a NaN or infinite value, naming it, its column and its row.

    Examples
    --------
    >>> encode_columns({"x": [1.0, 2.0]})
    b'{"columns":{"x":[1.0,2.0]}}'
    >>> encode_columns({"x": [1.0, float("inf")]})
    Traceback (most recent call last):
    ...
    bufferkit.errors.InvalidRequestError: Column 'x' contains non-finite value: inf \
(row 1): values must be finite numbers
    """
    body = orjson.dumps({"columns": data}, option=_JSON_OPTIONS)
    if b"null" in body:
        for column, values in data.items():
            for row_number, value in enumerate(values):
                if _is_non_finite(value):
                    msg = _non_finite_message(str(column), value, row_number)
                    raise InvalidRequestError(msg)
    return body


def _is_non_finite(value: object) -> bool:
    return isinstance(value, float | np.floating) and not math.isfinite(value)


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
    return _block_frame(decode_append(encode_rows(data), columns), columns)


def columns_frame(data: Mapping[str, Any], columns: tuple[str, ...]) -> pl.DataFrame:
    """Check a dict of column value lists as the server would; return it as a frame.

    Examples
    --------
    >>> columns_frame({"y": [2.5, 0.5], "x": [1, 3]}, ("x", "y")).to_dicts()
    [{'x': 1.0, 'y': 2.5}, {'x': 3.0, 'y': 0.5}]
    """
    return _block_frame(decode_columns(encode_columns(data), columns), columns)


def _block_frame(block: Any, columns: tuple[str, ...]) -> pl.DataFrame:
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
