"""Decoding of columnar append bodies, ``{"columns": {column: [value, ...]}}``.

The values follow the rules of row bodies: JSON numbers only, stored as float64,
finite, at least one row, and every column of the buffer present with the same
number of values. As for row bodies, valid bodies take a typed msgspec fast path,
and any body it rejects is decoded again by a validator that names the first
problem: which column, which row, which value. Column names that msgspec cannot
take as field names, those with a quote or a backslash, always go to the validator.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import msgspec
import numpy as np
from msgspec.structs import astuple

from bufferkit.codec import loads, only_keys_once
from bufferkit.errors import InvalidRequestError
from bufferkit.ingest import (
    checked_number,
    envelope_value,
    schema_mismatch_message,
    show_value,
)
from bufferkit.storage import FloatArray

_COLUMNS_FIRST = re.compile(rb'\s*\{\s*"columns"\s*:')


def is_columns_body(body: bytes) -> bool:
    """Return whether ``body`` is a JSON object whose first key is ``"columns"``.

    Examples
    --------
    >>> is_columns_body(b' { "columns": {"x": [1]}}'), is_columns_body(b'{"data": []}')
    (True, False)
    """
    return _COLUMNS_FIRST.match(body) is not None


def decode_columns(body: bytes, columns: tuple[str, ...]) -> FloatArray:
    """Decode a columnar append body into a ``(columns, rows)`` float64 array.

    Raises
    ------
    InvalidRequestError
        With a message naming the column, the row and the value at fault.

    Examples
    --------
    >>> decode_columns(b'{"columns": {"y": [2.5, 3], "x": [1, 2]}}', ("x", "y"))
    array([[1. , 2. ],
           [2.5, 3. ]])
    >>> decode_columns(b'{"columns": {"x": [1, "high"]}}', ("x",))
    Traceback (most recent call last):
    ...
    bufferkit.errors.InvalidRequestError: Column 'x' contains non-numeric value: \
'high' (row 1)
    """
    decoder = _fast_decoder(columns)
    if decoder is None:
        return _decode_checked(body, columns)
    try:
        decoded = decoder.decode(body).columns
    except (msgspec.ValidationError, msgspec.DecodeError):
        return _decode_checked(body, columns)
    values = astuple(decoded)
    lengths = {len(column_values) for column_values in values}
    # The typed decoder keeps the last of a repeated key; the validator names it.
    if len(lengths) != 1 or 0 in lengths or not only_keys_once(body, 1 + len(values)):
        return _decode_checked(body, columns)
    return np.array(values, dtype=np.float64)


@lru_cache(maxsize=256)
def _fast_decoder(columns: tuple[str, ...]) -> msgspec.json.Decoder[Any] | None:
    """Return the typed decoder of ``columns``, or ``None`` if msgspec refuses them.

    msgspec rejects field names with a quote, a backslash or a control character.
    """
    fields = [f"c{index}" for index in range(len(columns))]
    try:
        columns_type = msgspec.defstruct(
            "Columns",
            [(field, list[float]) for field in fields],
            rename=dict(zip(fields, columns, strict=True)),
            forbid_unknown_fields=True,
        )
    except (ValueError, TypeError):
        return None
    body_type = msgspec.defstruct(
        "ColumnsBody",
        [("columns", columns_type)],
        forbid_unknown_fields=True,
    )
    return msgspec.json.Decoder(body_type)


def _decode_checked(body: bytes, columns: tuple[str, ...]) -> FloatArray:
    """Validate ``body`` step by step and raise on its first problem."""
    mapping = envelope_value(
        loads(body), "columns", "{column: [value, ...]}", "an object of column arrays"
    )
    if not isinstance(mapping, dict):
        msg = f"'columns' must be an object of column arrays, got {show_value(mapping)}"
        raise InvalidRequestError(msg)
    if mapping.keys() != set(columns):
        raise InvalidRequestError(schema_mismatch_message(columns, list(mapping)))
    for column in columns:
        if not isinstance(mapping[column], list):
            msg = f"Column {column!r} must be an array of values, got " + show_value(
                mapping[column]
            )
            raise InvalidRequestError(msg)

    rows = len(mapping[columns[0]])
    for column in columns[1:]:
        if len(mapping[column]) != rows:
            msg = (
                f"Columns must have equal lengths: {columns[0]!r} has {rows} values, "
                f"{column!r} has {len(mapping[column])}"
            )
            raise InvalidRequestError(msg)
    if rows == 0:
        raise InvalidRequestError("Columns must contain at least one row")

    block = np.empty((len(columns), rows), dtype=np.float64)
    for position, column in enumerate(columns):
        for index, value in enumerate(mapping[column]):
            block[position, index] = checked_number(value, column, index)
    return block
