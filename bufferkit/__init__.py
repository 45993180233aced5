"""bufferkit: named sliding-window buffers of numeric columns, served over HTTP."""

from bufferkit.buffer import Buffer
from bufferkit.config import BufferConfig
from bufferkit.errors import (
    BufferExistsError,
    BufferkitError,
    BufferNotFoundError,
    InvalidRequestError,
)
from bufferkit.registry import Registry

__version__ = "0.1.0"

__all__ = [
    "Buffer",
    "BufferConfig",
    "BufferExistsError",
    "BufferNotFoundError",
    "BufferkitError",
    "InvalidRequestError",
    "Registry",
    "__version__",
]
