"""Decoding of append bodies sent as Arrow IPC, a stream or a file.

A body that starts with the magic bytes ``ARROW1`` is an Arrow IPC file, as Polars'
``write_ipc`` writes it, and is read as one whichever Arrow content type was sent;
any other body is read as a stream. The schema must have exactly the buffer's
columns, in any order, each of a numeric type (integer, floating point or decimal),
which is cast to float64. A null, NaN or infinite value, a missing or extra column,
a non-numeric column, an empty or truncated body is rejected with a message naming
the problem, and nothing of the body is stored.
"""

from __future__ import annotations

import io

import numpy as np
import polars as pl

from bufferkit.errors import InvalidRequestError
from bufferkit.ingest import schema_mismatch_message
from bufferkit.storage import FloatArray

ARROW_STREAM_TYPE = "application/vnd.apache.arrow.stream"
ARROW_FILE_TYPE = "application/vnd.apache.arrow.file"
#: An Arrow IPC file starts (and ends) with these bytes; a stream never does.
ARROW_FILE_MAGIC = b"ARROW1"
#: Every complete stream ends with this marker: continuation bytes, then length 0.
_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"
_MAX_REASON_CHARS = 200
#: Non-finite values named as the JSON tokens that append bodies reject.
_NON_FINITE_NAMES = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def decode_arrow(body: bytes, columns: tuple[str, ...]) -> FloatArray:
    """Decode an Arrow IPC stream or file into a ``(columns, rows)`` float64 array.

    Raises
    ------
    InvalidRequestError
        For a stream that cannot be read or whose schema or values do not fit the
        buffer.

    Examples
    --------
    >>> sink = io.BytesIO()
    >>> pl.DataFrame({"y": [2.5], "x": [1]}).write_ipc_stream(sink)
    >>> decode_arrow(sink.getvalue(), ("x", "y")).tolist()
    [[1.0], [2.5]]
    >>> decode_arrow(b"not arrow", ("x",))
    Traceback (most recent call last):
    ...
    bufferkit.errors.InvalidRequestError: Request body is not a complete Arrow IPC \
stream: it does not end with the end-of-stream marker
    """
    is_file = body.startswith(ARROW_FILE_MAGIC)
    frame = _read_file(body) if is_file else _read_stream(body)
    if frame.width != len(columns) or set(frame.columns) != set(columns):
        raise InvalidRequestError(schema_mismatch_message(columns, frame.columns))
    for column in columns:
        dtype = frame.schema[column]
        if not dtype.is_numeric():
            msg = (
                f"Column {column!r} has the non-numeric type {dtype}: send integer "
                "or floating-point columns"
            )
            raise InvalidRequestError(msg)
    if frame.height == 0:
        kind = "file" if is_file else "stream"
        raise InvalidRequestError(f"Arrow {kind} must contain at least one row")
    block = np.empty((len(columns), frame.height), dtype=np.float64)
    for position, column in enumerate(columns):
        series = frame.get_column(column).cast(pl.Float64)
        _check_values(series)
        block[position] = series.to_numpy()
    return block


def _read_stream(body: bytes) -> pl.DataFrame:
    # A stream cut between two record batches still reads without error, so only
    # the end-of-stream marker shows that no batch is missing.
    if not body.endswith(_END_OF_STREAM):
        raise InvalidRequestError(
            "Request body is not a complete Arrow IPC stream: it does not end with "
            "the end-of-stream marker"
        )
    try:
        return pl.read_ipc_stream(io.BytesIO(body))
    except _READ_ERRORS as error:
        raise _unreadable("stream", error) from None


def _read_file(body: bytes) -> pl.DataFrame:
    # The file format ends with its footer and the magic bytes again: a cut file
    # fails to read rather than losing batches.
    if len(body) < 2 * len(ARROW_FILE_MAGIC) or not body.endswith(ARROW_FILE_MAGIC):
        raise InvalidRequestError(
            "Request body is not a complete Arrow IPC file: it starts with the "
            "magic bytes ARROW1 but does not end with them"
        )
    try:
        return pl.read_ipc(io.BytesIO(body))
    except _READ_ERRORS as error:
        raise _unreadable("file", error) from None


_READ_ERRORS = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
    OSError,
    ValueError,
)


def _unreadable(kind: str, error: BaseException) -> InvalidRequestError:
    reason = str(error)
    if len(reason) > _MAX_REASON_CHARS:
        reason = reason[: _MAX_REASON_CHARS - 3] + "..."
    return InvalidRequestError(
        f"Request body is not a valid Arrow IPC {kind}: {reason}"
    )


def _check_values(series: pl.Series) -> None:
    """Raise on the first null or non-finite value of a float64 ``series``."""
    if series.null_count():
        row = int(series.is_null().arg_true()[0])
        msg = (
            f"Column {series.name!r} contains null (row {row}): values must be "
            "finite numbers"
        )
        raise InvalidRequestError(msg)
    finite = series.is_finite()
    if not finite.all():
        row = int((~finite).arg_true()[0])
        shown = _NON_FINITE_NAMES[repr(float(series[row]))]
        msg = (
            f"Column {series.name!r} contains non-finite value: {shown} (row {row}): "
            "values must be finite numbers"
        )
        raise InvalidRequestError(msg)
