"""The Jupyter server extension: the ``/v1/ml/buffers`` API behind Jupyter's auth.

How the handler classes are shared
----------------------------------
The verb bodies live once, in ``bufferkit.handlers``. ``jupyter_handler()`` derives
the Jupyter class of each standalone class listed by ``api_handlers()``: a subclass
of :class:`JupyterBufferkitHandler` (``BufferkitHandler`` followed by
jupyter-server's ``APIHandler``) and of the standalone class, whose every verb is
the standalone one wrapped as ``web.authenticated(authorized(verb))``. Python's
method resolution order then reads, for example::

    BuffersHandler -> JupyterBufferkitHandler -> handlers.BuffersHandler
    -> BufferkitHandler -> APIHandler -> JupyterHandler -> ... -> RequestHandler

so that:

- ``BufferkitHandler.write_error`` comes before ``APIHandler.write_error``: every
  error, Jupyter's own 403 included, leaves as ``{"error": {"code", "message"}}``;
- ``JupyterBufferkitHandler.prepare`` runs Jupyter's ``prepare`` first (host check,
  user, CORS, XSRF, origin) and rejects any request without a user. Then it runs
  the standalone chain: ``NotFoundHandler``'s 404 and the checks of
  ``BufferkitHandler`` on the query parameters and the declared body size. The
  body streams in through ``data_received`` only after all of these have passed;
- ``web.authenticated`` is the outermost wrapper of every verb, as jupyter-server's
  audit of extension routes expects, and ``authorized`` asks Jupyter's authorizer
  about the ``bufferkit`` resource. Deriving the classes rather than writing them
  out means a route added to ``api_handlers()`` gets both without a line here.

The standalone token check reads the ``bufferkit_token`` setting, which the
extension never sets: Jupyter's identity provider decides who is authenticated, and
requests without valid credentials get 403 (not the standalone server's 401).
"""

from __future__ import annotations

import contextlib
from typing import Any, cast

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.serverapp import ServerApp
from tornado import web
from traitlets import Int, TraitError

from bufferkit import handlers
from bufferkit.errors import BufferkitError, ForbiddenError
from bufferkit.handlers import (
    DEFAULT_MAX_BODY_SIZE,
    BufferkitHandler,
    implements_verb,
)
from bufferkit.registry import Registry

_VERBS = ("get", "post", "put", "patch", "delete", "head")
#: Resource name given to Jupyter's authorizer for every API request.
AUTH_RESOURCE = "bufferkit"

_CREDENTIALS_HINT = (
    "send the header 'Authorization: token <TOKEN>' with the Jupyter server's "
    "token, or log in to the Jupyter server"
)
_XSRF_HINT = (
    "a request authenticated by the login cookie must send the '_xsrf' cookie's "
    "value in the 'X-XSRFToken' header"
)


class JupyterBufferkitHandler(BufferkitHandler, APIHandler):
    """Base of the extension's handlers: bufferkit's errors, Jupyter's auth."""

    auth_resource = AUTH_RESOURCE
    host_query_arguments = ("token", "no_track_activity")

    async def prepare(self) -> None:  # type: ignore[override]
        """Authenticate as Jupyter does, then check the query and the body size.

        Jupyter's ``prepare`` rejects unauthenticated requests only when
        ``ServerApp.allow_unauthenticated_access`` is off. The API rejects them
        whatever that setting, so an unknown route or an unsupported verb gets 403
        rather than 404 or 405. Verbs marked ``@allow_unauthenticated``, such as the
        CORS preflight ``OPTIONS``, stay open.
        """
        await APIHandler.prepare(self)
        verb = getattr(self, (self.request.method or "").lower(), None)
        if not self.current_user and not hasattr(verb, "__allow_unauthenticated"):
            raise web.HTTPError(403)
        # The standalone class's prepare, then BufferkitHandler's; APIHandler's
        # synchronous parent is never reached, BufferkitHandler not calling super().
        super().prepare()

    def finish_typed(self, body: bytes, content_type: str) -> None:
        """Finish with ``body``; ``APIHandler.finish`` would reset the content type."""
        self.finish(body, set_content_type=content_type)

    def allowed_methods(self) -> list[str]:
        """Return the API's verbs; ``OPTIONS`` is Jupyter's CORS preflight."""
        return [verb for verb in super().allowed_methods() if verb != "OPTIONS"]

    def _as_bufferkit_error(
        self, status_code: int, exception: BaseException | None
    ) -> BufferkitError:
        if status_code == 403 and not isinstance(exception, BufferkitError):
            return ForbiddenError(_forbidden_message(exception))
        return super()._as_bufferkit_error(status_code, exception)


def _forbidden_message(exception: BaseException | None) -> str:
    detail = ""
    if isinstance(exception, web.HTTPError) and exception.log_message:
        detail = exception.log_message
        if exception.args:
            with contextlib.suppress(TypeError, ValueError):
                detail = detail % exception.args
    if "_xsrf" in detail:
        return f"Forbidden: {detail}; {_XSRF_HINT}"
    if detail:
        return f"Forbidden: {detail}"
    return f"Missing or invalid credentials: {_CREDENTIALS_HINT}"


_DERIVED: dict[type[BufferkitHandler], type[JupyterBufferkitHandler]] = {}


def jupyter_handler(handler: type[BufferkitHandler]) -> type[JupyterBufferkitHandler]:
    """Return the Jupyter class of a standalone handler class.

    It is a subclass of both, whose verbs are the standalone ones wrapped in
    ``web.authenticated`` (outermost) and ``authorized``.

    Examples
    --------
    >>> jupyter_class = jupyter_handler(handlers.BuffersHandler)
    >>> [cls.__name__ for cls in jupyter_class.__mro__[:5]]
    ['BuffersHandler', 'JupyterBufferkitHandler', 'BuffersHandler', \
'BufferkitHandler', 'APIHandler']
    >>> jupyter_class.get.__wrapped__.__wrapped__ is handlers.BuffersHandler.get
    True
    """
    if handler in _DERIVED:
        return _DERIVED[handler]
    namespace: dict[str, Any] = {"__module__": __name__, "__doc__": handler.__doc__}
    for verb in _VERBS:
        if implements_verb(handler, verb):
            namespace[verb] = web.authenticated(authorized(getattr(handler, verb)))
    bases = (JupyterBufferkitHandler, handler)
    derived = cast(
        type[JupyterBufferkitHandler], type(handler.__name__, bases, namespace)
    )
    _DERIVED[handler] = derived
    return derived


def extension_handlers() -> list[tuple[str, type[JupyterBufferkitHandler]]]:
    """Return the API's routes relative to the server's base URL.

    They are the standalone server's routes with the Jupyter classes; the
    ``ExtensionApp`` joins each pattern to ``base_url`` with ``url_path_join``.

    Examples
    --------
    >>> [pattern for pattern, _ in extension_handlers()][:2]
    ['v1/ml/buffers/?', 'v1/ml/buffers/([^/]+)/?']
    """
    return [
        (pattern.lstrip("/"), jupyter_handler(handler))
        for pattern, handler in handlers.api_handlers("/")
    ]


class Limit(Int):  # type: ignore[type-arg]
    """An integer option whose error names the option, the value and the range.

    Examples
    --------
    >>> BufferkitExtension(max_buffers=-1)
    Traceback (most recent call last):
    ...
    traitlets.traitlets.TraitError: BufferkitExtension.max_buffers must be an \
integer of at least 0 (0 means no limit), got -1
    """

    def __init__(self, default: int, low: int, *, unlimited: bool, help: str) -> None:
        super().__init__(default, min=low, help=help)
        self.low = low
        self.unlimited = unlimited

    def validate(self, obj: Any, value: Any) -> Any:
        """Accept integers from ``low`` up; raise a readable ``TraitError`` else."""
        try:
            return super().validate(obj, value)
        except TraitError:
            meaning = " (0 means no limit)" if self.unlimited else ""
            msg = (
                f"{type(obj).__name__}.{self.name} must be an integer of at least "
                f"{self.low}{meaning}, got {value!r}"
            )
            raise TraitError(msg) from None


class BufferkitExtension(ExtensionApp):
    """Serve ``/v1/ml/buffers`` from the Jupyter server, with one registry.

    Configure it as ``c.BufferkitExtension.<option>`` in a Jupyter config file or as
    ``--BufferkitExtension.<option>=<value>`` on the ``jupyter server`` command line.
    """

    name = "bufferkit"
    description = "Named sliding-window buffers of numeric columns, served over HTTP."
    load_other_extensions = True

    max_body_size = Limit(
        DEFAULT_MAX_BODY_SIZE,
        1,
        unlimited=False,
        help="Largest request body the API accepts, in bytes (the same as "
        "'bufferkit serve --max-body-size'); larger bodies get 413. Bodies above "
        "ServerApp.max_body_size are cut off by the server before the API sees them.",
    ).tag(config=True)

    max_buffers = Limit(
        0,
        0,
        unlimited=True,
        help="Maximum number of buffers held at once (the same as 'bufferkit serve "
        "--max-buffers'); creating one more gets 409 'limit_exceeded'. 0 means no "
        "limit.",
    ).tag(config=True)

    max_total_memory = Limit(
        0,
        0,
        unlimited=True,
        help="Maximum bytes of values all buffers may hold together (the same as "
        "'bufferkit serve --max-total-memory'). Each buffer reserves max_size x "
        "columns x 8 bytes when created; a create past the limit gets 409 "
        "'limit_exceeded'. 0 means no limit.",
    ).tag(config=True)

    registry: Registry
    #: Why the configuration was rejected, if it was; the API is then not loaded.
    config_error: str | None = None

    def _link_jupyter_server_extension(self, serverapp: ServerApp) -> None:
        """Read the configuration; an invalid option stops the API from loading.

        jupyter-server logs a failed link as a warning and then loads the extension
        all the same, with every option the link did not set at its default, so a
        server configured with limits would serve the API with none. The failure
        is recorded here so that :meth:`initialize` raises instead of loading, and
        logged as an error naming the option. With
        ``ServerApp.reraise_server_extension_failures`` the server does not start.
        """
        try:
            super()._link_jupyter_server_extension(serverapp)
        except TraitError as error:
            self.config_error = str(error)
            self.log.error(
                "bufferkit API not loaded: invalid option: %s", self.config_error
            )
            raise

    def initialize(self, argv: list[str] | None = None) -> None:
        """Add the settings and routes, unless the configuration was rejected."""
        if self.config_error is not None:
            msg = f"invalid option: {self.config_error}"
            raise TraitError(msg)
        super().initialize()  # type: ignore[no-untyped-call]

    def initialize_settings(self) -> None:
        """Create the server's registry and put it and the limits in the settings."""
        self.registry = Registry(
            max_buffers=self.max_buffers or None,
            max_total_memory=self.max_total_memory or None,
        )
        self.settings.update(
            bufferkit_registry=self.registry,
            bufferkit_max_body_size=self.max_body_size,
        )
        self.log.info(
            "bufferkit API at %sv1/ml/buffers (max_body_size=%d, max_buffers=%s, "
            "max_total_memory=%s)",
            self.serverapp.base_url if self.serverapp else "/",
            self.max_body_size,
            self.max_buffers or "unlimited",
            self.max_total_memory or "unlimited",
        )

    def initialize_handlers(self) -> None:
        """Add the API's routes; the ``ExtensionApp`` prefixes them with base_url."""
        self.handlers.extend(extension_handlers())
