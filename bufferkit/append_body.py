"""Choice of the decoder of an append body, by content type and shape.

- ``Content-Type: application/vnd.apache.arrow.stream``: an Arrow IPC stream.
- Otherwise JSON: ``{"columns": {column: [value, ...]}}`` when the object's first
  key is ``"columns"``, else ``{"data": [row, ...]}``.
"""

from __future__ import annotations

from bufferkit.ingest import decode_append
from bufferkit.ingest_arrow import ARROW_STREAM_TYPE, decode_arrow
from bufferkit.ingest_columns import decode_columns, is_columns_body
from bufferkit.storage import FloatArray


def decode_append_body(
    body: bytes, content_type: str | None, columns: tuple[str, ...]
) -> FloatArray:
    """Decode an append body of any accepted format into ``(columns, rows)``.

    Examples
    --------
    >>> decode_append_body(b'{"columns": {"x": [1, 2]}}', None, ("x",)).tolist()
    [[1.0, 2.0]]
    >>> decode_append_body(b'{"data": [{"x": 3}]}', "application/json", ("x",))
    array([[3.]])
    """
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type == ARROW_STREAM_TYPE:
        return decode_arrow(body, columns)
    if is_columns_body(body):
        return decode_columns(body, columns)
    return decode_append(body, columns)
