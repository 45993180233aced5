"""Check real responses against the API's OpenAPI description."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from bufferkit.openapi import openapi_document
from tests.http import Response

_VERBS = ("get", "post", "put", "patch", "delete", "head", "options")


@dataclass(frozen=True)
class Operation:
    """The path template and method a request matched, ``None`` if none did."""

    template: str | None
    method: str


class Description:
    """The OpenAPI document of the API, able to judge one response at a time."""

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.document = document or openapi_document()
        self._templates = [
            (template, re.compile(_pattern(template)))
            for template in self.document["paths"]
        ]

    def operation(self, method: str, path: str) -> Operation:
        """Return the operation that ``method`` on ``path`` (no base URL) is."""
        route = "/" + urlsplit(path).path.lstrip("/")
        for template, pattern in self._templates:
            if pattern.fullmatch(route):
                return Operation(template, method.lower())
        return Operation(None, method.lower())

    def check(self, method: str, path: str, response: Response) -> None:
        """Fail unless ``response`` is one the description allows for the request.

        ``path`` is relative to the server's base URL, query string included.
        """
        operation = self.operation(method, path)
        if response.status >= 400:
            self._check_error(response)
        if operation.template is None:
            assert response.status in (401, 403, 404), (path, response)
            return
        item = self.document["paths"][operation.template]
        if operation.method not in item:
            assert response.status in (401, 403, 405), (method, path, response)
            if response.status == 405:
                allowed = {verb for verb in _VERBS if verb in item}
                sent = {
                    verb.strip().lower()
                    for verb in response.headers["allow"].split(",")
                }
                assert sent == allowed, (path, response.headers["allow"])
            return
        responses = item[operation.method]["responses"]
        assert str(response.status) in responses, (method, path, response)
        described = self._resolve(responses[str(response.status)])
        self._check_headers(described, response)
        self._check_body(described, response)

    def _check_error(self, response: Response) -> None:
        assert response.headers.get("content-type") == "application/json", response
        self._validate(response.json, {"$ref": "#/components/schemas/Error"})

    def _check_headers(self, described: dict[str, Any], response: Response) -> None:
        for name in described.get("headers", {}):
            if name in ("Location", "Allow", "WWW-Authenticate"):
                assert name.lower() in response.headers, (name, response)

    def _check_body(self, described: dict[str, Any], response: Response) -> None:
        content_type = response.headers.get("content-type", "")
        media_types = described["content"]
        assert content_type in media_types, (content_type, list(media_types))
        schema = media_types[content_type]["schema"]
        if content_type == "application/json":
            self._validate(response.json, schema)
        else:
            assert schema == {"type": "string", "format": "binary"}
            assert response.body, response

    def _resolve(self, value: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in value:
            node: Any = self.document
            for part in value["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            value = node
        return value

    def _validate(self, instance: Any, schema: dict[str, Any]) -> None:
        rooted = {**schema, "components": self.document["components"]}
        jsonschema.Draft202012Validator(rooted).validate(instance)


def _pattern(template: str) -> str:
    return re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template)) + "/?"
