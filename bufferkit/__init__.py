"""bufferkit: named sliding-window buffers of numeric columns, served over HTTP."""

from typing import Any

from bufferkit.buffer import Buffer
from bufferkit.client import BufferHandle, Client
from bufferkit.config import BufferConfig
from bufferkit.errors import (
    BufferExistsError,
    BufferkitError,
    BufferNotFoundError,
    ForbiddenError,
    InvalidRequestError,
    LimitExceededError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ServerUnavailableError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from bufferkit.registry import Registry

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Tell jupyter-server where the extension is; jupyter-server imports it then.

    Examples
    --------
    >>> [point["module"] for point in _jupyter_server_extension_points()]
    ['bufferkit.extension']
    """
    from bufferkit.extension import BufferkitExtension

    return [{"module": "bufferkit.extension", "app": BufferkitExtension}]


__all__ = [
    "Buffer",
    "BufferConfig",
    "BufferExistsError",
    "BufferHandle",
    "BufferNotFoundError",
    "BufferkitError",
    "Client",
    "ForbiddenError",
    "InvalidRequestError",
    "LimitExceededError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "Registry",
    "ServerUnavailableError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "__version__",
]
