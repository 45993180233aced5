"""Exception tree shared by the server, the client and the core classes.

Every error carries the HTTP ``status`` and the machine-readable ``code`` of the
JSON error body ``{"error": {"code": ..., "message": ...}}``. The core raises these
without knowing about HTTP; the web layer turns them into responses in one place,
and the client turns error responses back into the same classes.
"""

from __future__ import annotations


class BufferkitError(Exception):
    """Base class of every bufferkit error.

    Parameters
    ----------
    message
        Human-readable description: what failed, on which value, what to do.
    status
        HTTP status the error maps to; defaults to the class's status.
    code
        Error code of the JSON body; defaults to the class's code.
    """

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, dict[str, str]]:
        """Return the JSON error body for this error."""
        return {"error": {"code": self.code, "message": self.message}}


class InvalidRequestError(BufferkitError):
    """Malformed JSON, wrong types, out-of-range values or a schema mismatch."""

    status = 400
    code = "invalid_request"


class UnauthorizedError(BufferkitError):
    """A request without the token the server requires."""

    status = 401
    code = "unauthorized"


class ForbiddenError(BufferkitError):
    """A request the Jupyter server refused: no valid credentials or XSRF token."""

    status = 403
    code = "forbidden"


class NotFoundError(BufferkitError):
    """An unknown route."""

    status = 404
    code = "not_found"


class BufferNotFoundError(NotFoundError):
    """A buffer name that the registry does not contain."""

    @classmethod
    def named(cls, name: str) -> BufferNotFoundError:
        """Build the error for the buffer ``name``."""
        return cls(f"Buffer '{name}' not found")


class BufferExistsError(BufferkitError):
    """A create request for a name that is already in use."""

    status = 409
    code = "conflict"

    @classmethod
    def named(cls, name: str) -> BufferExistsError:
        """Build the error for the buffer ``name``."""
        return cls(f"Buffer '{name}' already exists")


class MethodNotAllowedError(BufferkitError):
    """An HTTP verb that the route does not support."""

    status = 405
    code = "method_not_allowed"


class PayloadTooLargeError(BufferkitError):
    """A request body over the server's configured limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(BufferkitError):
    """A request body of a Content-Type or Content-Encoding the route does not take."""

    status = 415
    code = "unsupported_media_type"


class LimitExceededError(BufferkitError):
    """A create request that would take the server past a configured limit."""

    status = 409
    code = "limit_exceeded"


class ServerUnavailableError(BufferkitError, ConnectionError):
    """No server answered at the client's URL: none runs there, or it stopped.

    Raised by the client, never sent by a server, so its ``status`` is ``0``: no
    HTTP response arrived. It is also a ``ConnectionError``, so code that catches
    ``OSError`` or ``ConnectionError`` catches it too.
    """

    status = 0
    code = "server_unavailable"


#: Error classes by their JSON ``code``, used by the client to rebuild exceptions;
#: ``not_found`` maps to ``BufferNotFoundError``, a ``NotFoundError`` subclass.
ERRORS_BY_CODE: dict[str, type[BufferkitError]] = {
    cls.code: cls
    for cls in (
        InvalidRequestError,
        UnauthorizedError,
        ForbiddenError,
        BufferNotFoundError,
        BufferExistsError,
        MethodNotAllowedError,
        PayloadTooLargeError,
        UnsupportedMediaTypeError,
        LimitExceededError,
    )
}
