"""Decoding of append bodies, ``{"data": [row, ...]}``, into float64 columns.

Valid bodies take a fast path: msgspec decodes straight into a struct typed by the
buffer's columns, which rejects wrong keys, non-numbers and numbers beyond float64 as
it parses. Any body that path rejects is decoded again by a plain validator whose only
job is to name the first problem exactly: which row, which column, which value. Both
paths accept and reject the same bodies. msgspec keeps the last value of a repeated
key, so the fast path counts the body's quotes too: a body with more keys than its
rows need goes to the validator, which rejects the repeated key by name. Column
names that msgspec cannot take as field names, those with a quote or a backslash,
have no fast path: their bodies always go to the validator.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

import msgspec
import numpy as np
from msgspec.structs import astuple

from bufferkit.codec import loads, only_keys_once
from bufferkit.errors import InvalidRequestError
from bufferkit.storage import FloatArray

_MAX_SHOWN_CHARS = 60


def decode_append(body: bytes, columns: tuple[str, ...]) -> FloatArray:
    """Decode an append body into a ``(columns, rows)`` float64 array.

    Raises
    ------
    InvalidRequestError
        With a message naming the row, the column and the value at fault; no row
        of a rejected body is returned.

    Examples
    --------
    >>> decode_append(b'{"data": [{"x": 1, "y": 2.5}]}', ("x", "y")).tolist()
    [[1.0], [2.5]]
    >>> decode_append(b'{"data": [{"x": "high", "y": 2.5}]}', ("x", "y"))
    Traceback (most recent call last):
    ...
    bufferkit.errors.InvalidRequestError: Column 'x' contains non-numeric value: \
'high' (row 0)
    """
    decoder = _fast_decoder(columns)
    if decoder is None:
        return _decode_checked(body, columns)
    try:
        rows = decoder.decode(body).data
    except (msgspec.ValidationError, msgspec.DecodeError):
        return _decode_checked(body, columns)
    if not rows:
        raise InvalidRequestError("Data array must contain at least one row")
    width = len(columns)
    if not only_keys_once(body, 1 + len(rows) * width):
        # A repeated key, or a backslash that makes the count uncertain.
        return _decode_checked(body, columns)
    # One pass over every value straight into the array, row after row; half the
    # time of building a list of tuples for np.array.
    values = np.fromiter(
        chain.from_iterable(map(astuple, rows)),
        dtype=np.float64,
        count=len(rows) * width,
    )
    return values.reshape(len(rows), width).T


def decode_append_row(
    body: bytes, columns: tuple[str, ...]
) -> tuple[float, ...] | None:
    """Return the values, in schema order, of a valid append body of exactly one row.

    Any other body, valid or not, gives ``None``: decode it with ``decode_append``,
    which builds the array or names the problem. A single row appended from this
    tuple skips every numpy call of the array path, the bulk of its cost.

    Examples
    --------
    >>> decode_append_row(b'{"data": [{"x": 1, "y": 2.5}]}', ("x", "y"))
    (1.0, 2.5)
    >>> decode_append_row(b'{"data": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}', ("x", "y"))
    >>> decode_append_row(b'{"data": [{"x": "high", "y": 2.5}]}', ("x", "y"))
    """
    # One row means two opening braces: a cheap test that skips larger bodies.
    if body.count(b"{") != 2:
        return None
    decoder = _fast_decoder(columns)
    if decoder is None:
        return None
    try:
        rows = decoder.decode(body).data
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if len(rows) != 1 or not only_keys_once(body, 1 + len(columns)):
        return None
    values: tuple[float, ...] = astuple(rows[0])
    return values


@lru_cache(maxsize=256)
def _fast_decoder(columns: tuple[str, ...]) -> msgspec.json.Decoder[Any] | None:
    """Return the typed decoder of ``columns``, or ``None`` if msgspec refuses them.

    msgspec rejects field names with a quote, a backslash or a control character.
    """
    fields = [f"c{index}" for index in range(len(columns))]
    # Rows hold floats only, so they need no garbage collector tracking, which
    # would otherwise run collections while thousands of rows are decoded.
    try:
        row_type = msgspec.defstruct(
            "Row",
            [(field, float) for field in fields],
            rename=dict(zip(fields, columns, strict=True)),
            forbid_unknown_fields=True,
            gc=False,
        )
    except (ValueError, TypeError):
        return None
    body_type = msgspec.defstruct(
        "AppendBody",
        [("data", list[row_type])],  # type: ignore[valid-type]
        forbid_unknown_fields=True,
    )
    return msgspec.json.Decoder(body_type)


def _decode_checked(body: bytes, columns: tuple[str, ...]) -> FloatArray:
    """Validate ``body`` step by step and raise on its first problem."""
    rows = envelope_value(loads(body), "data", "[row, ...]", "an array of row objects")
    if not isinstance(rows, list):
        msg = f"'data' must be an array of row objects, got {show_value(rows)}"
        raise InvalidRequestError(msg)
    if not rows:
        raise InvalidRequestError("Data array must contain at least one row")
    expected = set(columns)
    block = np.empty((len(columns), len(rows)), dtype=np.float64)
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            msg = (
                f"Row {index} must be an object of column values, got {show_value(row)}"
            )
            raise InvalidRequestError(msg)
        if row.keys() != expected:
            msg = f"{schema_mismatch_message(columns, list(row))} (row {index})"
            raise InvalidRequestError(msg)
        for position, column in enumerate(columns):
            block[position, index] = checked_number(row[column], column, index)
    return block


def envelope_value(document: object, key: str, shape: str, description: str) -> Any:
    """Return ``document[key]`` of a body that must be the object ``{key: shape}``.

    ``description`` says what the value is, for the messages.
    """
    if not isinstance(document, dict):
        msg = (
            f'Request body must be a JSON object {{"{key}": {shape}}}, '
            f"got {show_value(document)}"
        )
        raise InvalidRequestError(msg)
    unknown = [name for name in document if name != key]
    if unknown:
        msg = (
            f"Unknown key {unknown[0]!r} in the request body: send only "
            f'"{key}", {description}'
        )
        raise InvalidRequestError(msg)
    if key not in document:
        msg = f'Request body must have the key "{key}", {description}'
        raise InvalidRequestError(msg)
    return document[key]


def checked_number(value: object, column: str, row: int) -> float:
    """Return the JSON number ``value`` as a finite float, or raise naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = show_value(value)
        msg = f"Column {column!r} contains non-numeric value: {shown} (row {row})"
        raise InvalidRequestError(msg)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        msg = (
            f"Column {column!r} contains a number too large for float64 (row {row}): "
            "values must be finite, below 1.8e308 in magnitude"
        )
        raise InvalidRequestError(msg)
    return number


def schema_mismatch_message(columns: Sequence[str], received: Sequence[str]) -> str:
    """Build the message for a body or frame whose columns are not ``columns``."""
    return (
        f"Schema mismatch: buffer expects columns {list(columns)}, got {list(received)}"
    )


def show_value(value: object) -> str:
    """Render a JSON value for a message, shortened if long."""
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    if len(text) > _MAX_SHOWN_CHARS:
        text = text[: _MAX_SHOWN_CHARS - 3] + "..."
    return text
