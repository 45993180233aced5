"""Content types and content encodings of request bodies.

JSON bodies are accepted with no ``Content-Type``, with ``application/json`` or any
``application/*+json`` type (parameters such as ``charset`` aside), and with
``text/plain`` and ``application/x-www-form-urlencoded``, which curl and browsers
send for a body given without a type. An append also accepts Arrow IPC, as a stream
or a file. Any other type gets 415 ``unsupported_media_type``.

A body sent with ``Content-Encoding: gzip`` is decompressed, and its decompressed
size counts against the server's body limit; any other encoding gets 415.
"""

from __future__ import annotations

import zlib
from typing import Literal

from bufferkit.errors import (
    InvalidRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from bufferkit.ingest_arrow import ARROW_FILE_TYPE, ARROW_STREAM_TYPE

BodyKind = Literal["json", "arrow"]
#: Media types read as JSON, besides ``application/*+json`` and none at all.
JSON_MEDIA_TYPES = (
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
)
ARROW_MEDIA_TYPES = (ARROW_STREAM_TYPE, ARROW_FILE_TYPE)
_JSON_ACCEPTED = "application/json, application/*+json, text/plain, " + (
    "application/x-www-form-urlencoded or no Content-Type"
)
_GZIP = ("gzip", "x-gzip")
_IDENTITY = ("", "identity")


def body_kind(content_type: str | None, *, arrow: bool) -> BodyKind:
    """Return how to read a body of ``content_type``; Arrow only if ``arrow``.

    Raises
    ------
    UnsupportedMediaTypeError
        For any other type, with the list of the accepted ones.

    Examples
    --------
    >>> body_kind("application/json; charset=utf-8", arrow=True)
    'json'
    >>> body_kind("application/vnd.apache.arrow.file", arrow=True)
    'arrow'
    >>> body_kind("text/csv", arrow=False)
    Traceback (most recent call last):
    ...
    bufferkit.errors.UnsupportedMediaTypeError: Unsupported Content-Type 'text/csv': \
this route takes JSON: application/json, application/*+json, text/plain, \
application/x-www-form-urlencoded or no Content-Type
    """
    media = media_type(content_type)
    if not media or media in JSON_MEDIA_TYPES:
        return "json"
    if media.startswith("application/") and media.endswith("+json"):
        return "json"
    if arrow and media in ARROW_MEDIA_TYPES:
        return "arrow"
    if arrow:
        accepted = (
            f"JSON ({_JSON_ACCEPTED}) or Arrow IPC ({' or '.join(ARROW_MEDIA_TYPES)})"
        )
        msg = f"Unsupported Content-Type {content_type!r}: send {accepted}"
    else:
        msg = f"Unsupported Content-Type {content_type!r}: this route takes JSON: "
        msg += _JSON_ACCEPTED
    raise UnsupportedMediaTypeError(msg)


def media_type(content_type: str | None) -> str:
    """Return the media type of a ``Content-Type`` value, lowercase, no parameters.

    Examples
    --------
    >>> media_type(" Application/JSON ; charset=UTF-8")
    'application/json'
    """
    return (content_type or "").partition(";")[0].strip().lower()


def decode_content(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Return ``body`` decoded from its ``Content-Encoding``, at most ``limit`` bytes.

    Raises
    ------
    UnsupportedMediaTypeError
        For an encoding other than gzip (or identity).
    PayloadTooLargeError
        For a gzip body that decompresses to more than ``limit`` bytes.
    InvalidRequestError
        For a corrupt or truncated gzip body.

    Examples
    --------
    >>> import gzip
    >>> decode_content(gzip.compress(b'{"data": []}'), "gzip", 100)
    b'{"data": []}'
    >>> decode_content(b"{}", "br", 100)
    Traceback (most recent call last):
    ...
    bufferkit.errors.UnsupportedMediaTypeError: Unsupported Content-Encoding 'br': \
send the body uncompressed or with Content-Encoding: gzip
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding in _IDENTITY:
        return body
    if encoding not in _GZIP:
        msg = (
            f"Unsupported Content-Encoding {content_encoding!r}: send the body "
            "uncompressed or with Content-Encoding: gzip"
        )
        raise UnsupportedMediaTypeError(msg)
    return gunzip(body, limit)


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip ``data``, one member or several, into at most ``limit`` bytes.

    Decompression stops as soon as the output passes ``limit``, so a small body
    that expands hugely costs no more than ``limit`` bytes of memory.
    """
    parts: list[bytes] = []
    size = 0
    rest = data
    while True:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = rest
        try:
            while pending and not decompressor.eof:
                part = decompressor.decompress(pending, limit + 1 - size)
                size += len(part)
                if size > limit:
                    msg = (
                        f"Request body of {len(data)} gzip-compressed bytes is over "
                        f"the server's limit of {limit} bytes once decompressed: "
                        "send the rows in smaller batches"
                    )
                    raise PayloadTooLargeError(msg)
                parts.append(part)
                pending = decompressor.unconsumed_tail
        except zlib.error as error:
            msg = f"Request body is not valid gzip data: {error}"
            raise InvalidRequestError(msg) from None
        if not decompressor.eof:
            raise InvalidRequestError(
                "Request body is not valid gzip data: it is empty or cut short"
            )
        rest = decompressor.unused_data
        if not rest.strip(b"\0"):
            return b"".join(parts)
