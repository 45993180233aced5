"""Encoding of a page of rows in each response format of the row reads.

- ``json``: ``{...head, "data": [{column: value, ...}, ...]}``, row objects oldest
  first.
- ``columns``: the same object with ``data`` an object of columns instead,
  ``{column: [value, ...], ...}`` in column order, the shape an append accepts as
  ``{"columns": ...}``.
- ``csv``, ``parquet`` and ``arrow`` (an Arrow IPC stream): the rows alone as a file
  to download, float64 columns with nulls where a value is undefined.

The head (name, sizes, offset) is only in the JSON formats.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl

from bufferkit.codec import dumps
from bufferkit.ingest_arrow import ARROW_STREAM_TYPE

JSON_TYPE = "application/json"
#: Content type and file extension of the formats sent as files.
FILE_FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
    "arrow": (ARROW_STREAM_TYPE, "arrows"),
}


@dataclass(frozen=True)
class Encoded:
    """A response body, its content type and, for a file, its download name."""

    body: bytes
    content_type: str
    filename: str | None = None


def encode_page(
    head: dict[str, Any],
    frame: pl.DataFrame,
    response_format: str,
    *,
    stem: str,
    rows: int | None = None,
) -> Encoded:
    """Encode ``frame`` in ``response_format``, one of ``bufferkit.query.FORMATS``.

    ``head`` contains the other keys of the JSON formats. ``stem`` names the
    downloaded file, ``<stem>.<extension>``. ``rows`` is the row count of a frame
    with no columns.

    Examples
    --------
    >>> frame = pl.DataFrame({"x": [1.0, None]})
    >>> encode_page({"name": "demo"}, frame, "columns", stem="demo").body
    b'{"name":"demo","data":{"x":[1.0,null]}}'
    >>> encode_page({}, frame, "csv", stem="demo")
    Encoded(body=b'x\\n1.0\\n\\n', content_type='text/csv; charset=utf-8', \
filename='demo.csv')
    """
    if response_format == "json":
        return Encoded(with_data(head, rows_json(frame, rows)), JSON_TYPE)
    if response_format == "columns":
        return Encoded(with_data(head, columns_json(frame)), JSON_TYPE)
    content_type, extension = FILE_FORMATS[response_format]
    return Encoded(
        encode_file(frame, response_format), content_type, f"{stem}.{extension}"
    )


def with_data(head: dict[str, Any], data: bytes) -> bytes:
    """Return the JSON object ``head`` with the encoded JSON ``data`` as ``"data"``."""
    return data_prefix(head) + data + b"}"


def data_prefix(head: dict[str, Any]) -> bytes:
    """Encode the JSON object ``head`` up to the value of a last key ``"data"``.

    Examples
    --------
    >>> data_prefix({"n": 3}), data_prefix({})
    (b'{"n":3,"data":', b'{"data":')
    """
    encoded_head = dumps(head)
    separator = b"," if len(encoded_head) > 2 else b""
    return encoded_head[:-1] + separator + b'"data":'


def rows_json(frame: pl.DataFrame, rows: int | None = None) -> bytes:
    """Encode ``frame`` as a JSON array of row objects, nulls as ``null``."""
    if frame.width == 0:
        return b"[" + b",".join([b"{}"] * (rows or 0)) + b"]"
    if frame.height == 0:
        return b"[]"
    return frame.write_json().encode()


def columns_json(frame: pl.DataFrame) -> bytes:
    """Encode ``frame`` as a JSON object of column arrays, NaN and nulls as ``null``."""
    # orjson writes a float64 array's NaN as null, and to_numpy turns nulls into NaN.
    return orjson.dumps(
        {name: frame.get_column(name).to_numpy() for name in frame.columns},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def encode_file(frame: pl.DataFrame, file_format: str) -> bytes:
    """Write ``frame`` as CSV, Parquet or an Arrow IPC stream."""
    if file_format == "csv":
        return frame.write_csv().encode()
    sink = io.BytesIO()
    if file_format == "parquet":
        frame.write_parquet(sink)
    else:
        frame.write_ipc_stream(sink)
    return sink.getvalue()
