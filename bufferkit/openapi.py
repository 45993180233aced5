"""The OpenAPI 3.1 description of the ``/v1/ml/buffers`` API.

``openapi_document()`` returns it as a JSON-ready dict; ``GET /v1/ml/openapi.json``
serves it with the server URL of the host that answers, so the same document
describes the standalone server and the Jupyter extension behind its base URL.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from bufferkit import __version__
from bufferkit.config import DEFAULT_MAX_SIZE, MAX_SIZE_LIMIT, NAME_PATTERN
from bufferkit.formats import FILE_FORMATS
from bufferkit.ingest_arrow import ARROW_FILE_TYPE, ARROW_STREAM_TYPE
from bufferkit.query import (
    FORMATS,
    MAX_HISTORY_ROWS_HEADER,
    MAX_HISTORY_VALUES,
    MAX_QUERY_INTEGER,
)

Schema = dict[str, Any]

ERROR_CODES = {
    "invalid_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "limit_exceeded": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "internal_error": 500,
}

_ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, a wrong type, an out-of-range value, a schema mismatch, "
    "a corrupt gzip body, a feature history page over its size limit, or a bad "
    "query parameter: every route rejects a query parameter it does not take "
    "(the host's own, such as Jupyter's token, aside); nothing is stored.",
    401: "Standalone server started with --token, and the request lacks "
    "'Authorization: token <TOKEN>' with that token.",
    403: "Jupyter host: no valid Jupyter credentials, or a cookie-authenticated "
    "request without its XSRF token.",
    404: "Unknown buffer, a name that is not a valid buffer name, or an unknown "
    "route under /v1/ml/.",
    405: "The route does not support this method; the Allow header lists those it "
    "does.",
    409: "'conflict': the name is in use. 'limit_exceeded': the server holds its "
    "maximum number of buffers, or the new buffer's reserved memory "
    "(max_size x columns x 8 bytes) would take the total past the server's "
    "maximum; nothing is created.",
    413: "The request body is over the server's limit (64 MiB by default), or a "
    "gzip body decompresses to more; the server answers before reading the rest "
    "of a body declared too large.",
    415: "A request body of a Content-Type the route does not take (JSON: no "
    "Content-Type, application/json, application/*+json, text/plain or "
    "application/x-www-form-urlencoded; for an append also Arrow IPC), or a "
    "Content-Encoding other than gzip; nothing is stored.",
    500: "A bug; the server logs it with its traceback and the message reveals "
    "nothing of the server's internals.",
}

_NAME_PATTERN = f"^{NAME_PATTERN.pattern}$"
_TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _count(description: str, minimum: int = 0) -> Schema:
    return {"type": "integer", "minimum": minimum, "description": description}


def _json_content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: int) -> Schema:
    """Return the error responses ``statuses`` and those any request can get."""
    every = sorted({*statuses, 400, 401, 403, 405, 500})
    return {
        str(status): {"$ref": f"#/components/responses/Error{status}"}
        for status in every
    }


def _schemas() -> Schema:
    number = {"type": "number", "description": "A float64 value, always finite."}
    feature_value = {
        "type": ["number", "null"],
        "description": "null while the buffer holds too few rows, or where no "
        "finite result exists.",
    }
    integer_list = {
        "type": ["array", "null"],
        "items": {"type": "integer"},
        "uniqueItems": True,
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "additionalProperties": False,
                    "properties": {
                        "code": {"type": "string", "enum": list(ERROR_CODES)},
                        "message": {
                            "type": "string",
                            "minLength": 1,
                            "description": "What failed, on which value, and what "
                            "to do about it.",
                        },
                    },
                }
            },
        },
        "BufferName": {
            "type": "string",
            "pattern": _NAME_PATTERN,
            "description": "1-128 characters of A-Z a-z 0-9 _ . - starting with a "
            "letter or digit; it is a URL path segment.",
        },
        "CreateRequest": {
            "type": "object",
            "required": ["name", "columns"],
            "additionalProperties": False,
            "description": "An unknown field is rejected with 400 naming it; null for "
            "an optional field means its default. Integers must be JSON integer "
            'literals: 10.0, 1e2, true and "10" are rejected.',
            "properties": {
                "name": _ref("BufferName"),
                "columns": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"type": "string", "minLength": 1},
                },
                "max_size": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "maximum": MAX_SIZE_LIMIT,
                    "default": DEFAULT_MAX_SIZE,
                    "description": "Rows kept; the oldest are dropped first.",
                },
                "rolling_windows": {
                    **integer_list,
                    "items": {"type": "integer", "minimum": 2},
                    "default": [],
                    "description": "Window lengths in rows, each 2 to max_size.",
                },
                "lag_periods": {
                    **integer_list,
                    "items": {"type": "integer", "minimum": 1},
                    "default": [],
                    "description": "Lags in rows, each 1 to max_size - 1.",
                },
            },
        },
        "Buffer": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "name",
                "max_size",
                "current_size",
                "columns",
                "rolling_windows",
                "lag_periods",
                "memory_bytes",
                "created_at",
            ],
            "properties": {
                "name": _ref("BufferName"),
                "max_size": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_SIZE_LIMIT,
                },
                "current_size": _count("Rows held, at most max_size."),
                "columns": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                },
                "rolling_windows": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 2},
                },
                "lag_periods": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1},
                },
                "memory_bytes": _count(
                    "Size of the values held: current_size x columns x 8."
                ),
                "created_at": {
                    "type": "string",
                    "pattern": _TIMESTAMP_PATTERN,
                    "description": "UTC, to the second.",
                },
            },
        },
        "BufferList": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "buffers",
                "total_buffers",
                "total_memory_bytes",
                "reserved_memory_bytes",
                "max_total_memory",
            ],
            "properties": {
                "buffers": {
                    "type": "array",
                    "items": _ref("Buffer"),
                    "description": "In creation order.",
                },
                "total_buffers": _count("Number of buffers."),
                "total_memory_bytes": _count("Sum of the buffers' memory_bytes."),
                "reserved_memory_bytes": _count(
                    "Sum of max_size x columns x 8 over the buffers: the bytes "
                    "they reserve, which max_total_memory bounds."
                ),
                "max_total_memory": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "description": "The server's limit on reserved_memory_bytes; "
                    "a create past it gets 409 limit_exceeded. Null when unlimited.",
                },
            },
        },
        "Deleted": {
            "type": "object",
            "additionalProperties": False,
            "required": ["deleted", "memory_freed_bytes"],
            "properties": {
                "deleted": {"type": "string"},
                "memory_freed_bytes": _count("The buffer's memory_bytes when deleted."),
            },
        },
        "Row": {
            "type": "object",
            "description": "One value per column of the buffer, keyed by column name.",
            "additionalProperties": number,
        },
        "RowsBody": {
            "type": "object",
            "required": ["data"],
            "additionalProperties": False,
            "properties": {
                "data": {
                    "type": "array",
                    "minItems": 1,
                    "items": _ref("Row"),
                    "description": "Rows, oldest first; each row's keys are exactly "
                    "the buffer's columns, each key once. Values are JSON numbers "
                    "(stored as float64; one beyond float64 is rejected).",
                }
            },
        },
        "ColumnsBody": {
            "type": "object",
            "required": ["columns"],
            "additionalProperties": False,
            "description": "Recognised by 'columns' being the object's first key.",
            "properties": {
                "columns": {
                    "type": "object",
                    "description": "Every column of the buffer, each once, with "
                    "arrays of equal length, at least 1.",
                    "additionalProperties": {
                        "type": "array",
                        "minItems": 1,
                        "items": number,
                    },
                }
            },
        },
        "AppendResult": {
            "type": "object",
            "additionalProperties": False,
            "required": ["rows_appended", "current_size", "rows_dropped"],
            "properties": {
                "rows_appended": _count("Rows in the request.", 1),
                "current_size": _count(
                    "min(max_size, size before + rows_appended).", 1
                ),
                "rows_dropped": _count(
                    "Rows evicted: size before + rows_appended - current_size."
                ),
            },
        },
        "DataPage": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "name",
                "current_size",
                "columns",
                "returned_rows",
                "offset",
                "data",
            ],
            "properties": {
                "name": _ref("BufferName"),
                "current_size": _count("Rows held."),
                "columns": {"type": "array", "items": {"type": "string"}},
                "returned_rows": _count("Rows in data."),
                "offset": _count(
                    "Position of the first returned row among the rows held: the "
                    "requested offset, or current_size - returned_rows with last."
                ),
                "data": {
                    "oneOf": [
                        {
                            "type": "array",
                            "items": _ref("Row"),
                            "description": "format=json: row objects, oldest first.",
                        },
                        {
                            "type": "object",
                            "additionalProperties": {"type": "array", "items": number},
                            "description": "format=columns: an array per column.",
                        },
                    ]
                },
            },
        },
        "Features": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "row_count", "feature_count", "features"],
            "properties": {
                "name": _ref("BufferName"),
                "row_count": _count("Rows held."),
                "feature_count": _count("Number of keys of features."),
                "features": {
                    "type": "object",
                    "description": "For each column in schema order: "
                    "{col}_rolling_mean_{W}, _rolling_std_{W} (sample), "
                    "_rolling_min_{W} and _rolling_max_{W} per window W, then "
                    "{col}_lag_{P} and {col}_delta_{P} per lag P.",
                    "additionalProperties": feature_value,
                },
            },
        },
        "FeatureHistoryPage": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "name",
                "row_count",
                "columns",
                "returned_rows",
                "offset",
                "data",
            ],
            "properties": {
                "name": _ref("BufferName"),
                "row_count": _count("Rows held."),
                "columns": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Feature names, in the order of /features.",
                },
                "returned_rows": _count("Rows in data."),
                "offset": _count("Position of the first returned row."),
                "data": {
                    "oneOf": [
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": feature_value,
                            },
                        },
                        {
                            "type": "object",
                            "additionalProperties": {
                                "type": "array",
                                "items": feature_value,
                            },
                        },
                    ]
                },
            },
        },
    }


def _page_parameters() -> list[Schema]:
    def integer(name: str, description: str) -> Schema:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_QUERY_INTEGER},
        }

    return [
        integer(
            "offset",
            "First row to return, counted from the oldest row held "
            "(default 0); at or past the end, no rows.",
        ),
        integer(
            "limit", "Maximum number of rows to return (default: all from offset)."
        ),
        integer("last", "Return the newest N rows instead; not with offset or limit."),
        {
            "name": "format",
            "in": "query",
            "required": False,
            "description": "json: row objects; columns: an array per column; csv, "
            "parquet and arrow (an Arrow IPC stream): the rows alone as a file.",
            "schema": {"type": "string", "enum": list(FORMATS), "default": FORMATS[0]},
        },
    ]


def _page_content(page: str) -> Schema:
    content = _json_content(_ref(page))
    for content_type, _ in FILE_FORMATS.values():
        content[content_type] = {"schema": {"type": "string", "format": "binary"}}
    return content


def _name_parameter() -> Schema:
    return {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "The buffer's name; a name that is not a valid buffer name "
        "(a slash, a space, non-ASCII) is answered 404.",
        "schema": {"type": "string"},
    }


def _operation(summary: str, responses: Schema, **more: Any) -> Schema:
    return {"summary": summary, "responses": responses, **more}


def _ok(description: str, schema: Schema, **more: Any) -> Schema:
    return {"description": description, "content": _json_content(schema), **more}


def _paths() -> Schema:
    buffers = "/v1/ml/buffers"
    named = f"{buffers}/{{name}}"
    download = {
        "Content-Disposition": {
            "description": "For csv, parquet and arrow: attachment; filename=...",
            "schema": {"type": "string"},
        }
    }
    max_rows = {
        MAX_HISTORY_ROWS_HEADER: {
            "description": f"The maximum rows one request of this buffer's history may "
            f"select: {MAX_HISTORY_VALUES} // features (a buffer without features "
            "counting as one). Also sent with errors once the buffer is found.",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    return {
        buffers: {
            "get": _operation(
                "List every buffer, in creation order, with their memory use",
                {"200": _ok("The buffers.", _ref("BufferList")), **_errors()},
            ),
            "post": _operation(
                "Create a buffer",
                {
                    "201": _ok(
                        "The new buffer.",
                        _ref("Buffer"),
                        headers={
                            "Location": {
                                "description": "The path of the new buffer.",
                                "schema": {"type": "string"},
                            }
                        },
                    ),
                    **_errors(400, 409, 413, 415),
                },
                description="The body is JSON, optionally sent with "
                "Content-Encoding: gzip.",
                requestBody={
                    "required": True,
                    "content": _json_content(_ref("CreateRequest")),
                },
            ),
        },
        named: {
            "parameters": [_name_parameter()],
            "get": _operation(
                "Describe a buffer",
                {"200": _ok("The buffer.", _ref("Buffer")), **_errors(404)},
            ),
            "delete": _operation(
                "Delete a buffer and free its memory",
                {"200": _ok("The buffer is gone.", _ref("Deleted")), **_errors(404)},
            ),
        },
        f"{named}/append": {
            "parameters": [_name_parameter()],
            "post": _operation(
                "Append rows, all of them or none",
                {
                    "200": _ok("The rows are stored.", _ref("AppendResult")),
                    **_errors(400, 404, 413, 415),
                },
                description="A batch longer than max_size keeps its last max_size "
                "rows. A rejected body stores nothing. JSON is read with no "
                "Content-Type, application/json, application/*+json, text/plain "
                "or application/x-www-form-urlencoded; Arrow IPC with "
                f"{ARROW_STREAM_TYPE} or {ARROW_FILE_TYPE}, a body starting with "
                "the magic bytes ARROW1 being read as a file whichever of the two "
                "was sent. Any body may be sent with Content-Encoding: gzip; its "
                "decompressed size counts against the body limit.",
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [_ref("RowsBody"), _ref("ColumnsBody")]}
                        },
                        ARROW_STREAM_TYPE: {
                            "schema": {
                                "type": "string",
                                "format": "binary",
                                "description": "An Arrow IPC stream with a numeric "
                                "column for each column of the buffer.",
                            }
                        },
                        ARROW_FILE_TYPE: {
                            "schema": {
                                "type": "string",
                                "format": "binary",
                                "description": "An Arrow IPC file, as Polars' "
                                "write_ipc writes it, with a numeric column for each "
                                "column of the buffer.",
                            }
                        },
                    },
                },
            ),
        },
        f"{named}/data": {
            "parameters": [_name_parameter()],
            "get": _operation(
                "Read rows, a page from the oldest or the newest N",
                {
                    "200": {
                        "description": "The rows, oldest first.",
                        "headers": download,
                        "content": _page_content("DataPage"),
                    },
                    **_errors(400, 404),
                },
                parameters=_page_parameters(),
            ),
        },
        f"{named}/features": {
            "parameters": [_name_parameter()],
            "get": _operation(
                "Rolling, lag and delta features of the newest row",
                {"200": _ok("The features.", _ref("Features")), **_errors(404)},
            ),
        },
        f"{named}/features/history": {
            "parameters": [_name_parameter()],
            "get": _operation(
                "The features of each row, as /features returned them when it was "
                "the newest",
                {
                    "200": {
                        "description": "One row of features per selected row.",
                        "headers": {**download, **max_rows},
                        "content": _page_content("FeatureHistoryPage"),
                    },
                    **_errors(400, 404),
                },
                description=f"One request returns at most {MAX_HISTORY_VALUES:,} "
                "values, rows x features. A page selecting more rows gets 400 "
                "invalid_request before anything is computed, naming the maximum rows "
                f"allowed, and the {MAX_HISTORY_ROWS_HEADER} header of every response "
                "gives it too, to page with offset/limit or last.",
                parameters=_page_parameters(),
            ),
        },
        "/v1/ml/openapi.json": {
            "get": _operation(
                "This description of the API",
                {
                    "200": _ok("An OpenAPI 3.1 document.", {"type": "object"}),
                    **_errors(),
                },
            ),
        },
    }


def _error_responses() -> Schema:
    responses: Schema = {}
    for status, description in _ERROR_DESCRIPTIONS.items():
        response: Schema = {
            "description": description,
            "content": _json_content(_ref("Error")),
        }
        if status == 405:
            response["headers"] = {"Allow": {"schema": {"type": "string"}}}
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        responses[f"Error{status}"] = response
    return responses


@lru_cache(maxsize=1)
def _document() -> Schema:
    codes = ", ".join(f"{code} ({status})" for code, status in ERROR_CODES.items())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bufferkit",
            "version": __version__,
            "description": "Named, fixed-capacity sliding-window buffers of float64 "
            "columns with rolling, lag and delta features. Every error, including "
            "404 for an unknown route under /v1/ml/, 405 and 500, is JSON: "
            '{"error": {"code", "message"}}, with the codes ' + codes + ".",
        },
        "servers": [{"url": "/"}],
        "security": [{}, {"token": []}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "responses": _error_responses(),
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "'token <TOKEN>': the standalone server's --token, "
                    "or the Jupyter server's token on the Jupyter host.",
                }
            },
        },
    }


def openapi_document(server_url: str = "/") -> Schema:
    """Return the API's OpenAPI 3.1 description, served from ``server_url``.

    Examples
    --------
    >>> document = openapi_document("/jupyter/")
    >>> document["openapi"], document["servers"]
    ('3.1.0', [{'url': '/jupyter/'}])
    >>> sorted(document["paths"]["/v1/ml/buffers"])
    ['get', 'post']
    """
    document = copy.deepcopy(_document())
    document["servers"] = [{"url": server_url}]
    return document
