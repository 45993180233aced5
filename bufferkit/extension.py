"""The Jupyter server extension: the ``/v1/ml/buffers`` API behind Jupyter's auth.

How the handler classes are shared
----------------------------------
The verb bodies live once, in ``bufferkit.handlers``. Each class here combines the
standalone class of the same name with :class:`JupyterBufferkitHandler`, which is
``BufferkitHandler`` followed by jupyter-server's ``APIHandler``. Python's method
resolution order then reads, for example::

    BuffersHandler -> JupyterBufferkitHandler -> handlers.BuffersHandler
    -> BufferkitHandler -> APIHandler -> JupyterHandler -> ... -> RequestHandler

so that:

- ``BufferkitHandler.write_error`` comes before ``APIHandler.write_error``: every
  error, Jupyter's own 403 included, leaves as ``{"error": {"code", "message"}}``;
- ``JupyterBufferkitHandler.prepare`` runs Jupyter's ``prepare`` first (host check,
  user, CORS, XSRF, origin), refuses any request without a user, then runs the
  body-size check of ``BufferkitHandler``; the body streams in through
  ``data_received`` only after all of these have passed;
- each verb is redefined here only to put ``@web.authenticated`` (outermost, as
  jupyter-server's audit of extension routes expects) and ``@authorized`` around
  the shared body, which it calls through ``super()``. Tornado types
  ``web.authenticated`` as returning ``Callable[..., Awaitable[None] | None]``,
  hence the ``type: ignore[override]`` on each of them.

The standalone token check reads the ``bufferkit_token`` setting, which the
extension never sets: Jupyter's identity provider decides who is authenticated, and
requests without valid credentials get 403 (not the standalone server's 401).
"""

from __future__ import annotations

import contextlib

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.application import ExtensionApp
from tornado import web
from traitlets import Int

from bufferkit import handlers
from bufferkit.errors import BufferkitError, ForbiddenError, NotFoundError
from bufferkit.handlers import DEFAULT_MAX_BODY_SIZE, BufferkitHandler
from bufferkit.registry import Registry

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
        """Authenticate as Jupyter does, then check the declared body size.

        Jupyter's ``prepare`` refuses unauthenticated requests only when
        ``ServerApp.allow_unauthenticated_access`` is off; the API refuses them
        whatever that setting, so an unknown route or an unsupported verb gets 403
        rather than 404 or 405. Verbs marked ``@allow_unauthenticated``, such as the
        CORS preflight ``OPTIONS``, stay open.
        """
        await APIHandler.prepare(self)
        verb = getattr(self, (self.request.method or "").lower(), None)
        if not self.current_user and not hasattr(verb, "__allow_unauthenticated"):
            raise web.HTTPError(403)
        BufferkitHandler.prepare(self)

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


class BuffersHandler(JupyterBufferkitHandler, handlers.BuffersHandler):
    """``/v1/ml/buffers`` in Jupyter: list buffers and create one."""

    @web.authenticated
    @authorized
    def get(self) -> None:  # type: ignore[override]
        """List every buffer in creation order, with the memory they use."""
        super().get()

    @web.authenticated
    @authorized
    def post(self) -> None:  # type: ignore[override]
        """Create a buffer."""
        super().post()


class BufferHandler(JupyterBufferkitHandler, handlers.BufferHandler):
    """``/v1/ml/buffers/{name}`` in Jupyter: describe or delete one buffer."""

    @web.authenticated
    @authorized
    def get(self, name: str) -> None:  # type: ignore[override]
        """Describe the buffer."""
        super().get(name)

    @web.authenticated
    @authorized
    def delete(self, name: str) -> None:  # type: ignore[override]
        """Delete the buffer and report the memory it held."""
        super().delete(name)


class AppendHandler(JupyterBufferkitHandler, handlers.AppendHandler):
    """``/v1/ml/buffers/{name}/append`` in Jupyter: append rows, all or none."""

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:  # type: ignore[override]
        """Append ``{"data": [row, ...]}``; a rejected body stores nothing."""
        await super().post(name)


class DataHandler(JupyterBufferkitHandler, handlers.DataHandler):
    """``/v1/ml/buffers/{name}/data`` in Jupyter: read rows."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:  # type: ignore[override]
        """Read rows selected by ``offset``/``limit`` or ``last``, oldest first."""
        await super().get(name)


class FeaturesHandler(JupyterBufferkitHandler, handlers.FeaturesHandler):
    """``/v1/ml/buffers/{name}/features`` in Jupyter: the newest row's features."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:  # type: ignore[override]
        """Compute the features of the newest row."""
        await super().get(name)


class NotFoundHandler(JupyterBufferkitHandler):
    """Any other path under ``v1/ml/``: 404 in the JSON error shape, once logged in."""

    async def prepare(self) -> None:  # type: ignore[override]
        """Reject the request once Jupyter has authenticated it."""
        await super().prepare()
        raise NotFoundError(f"No route for {self.request.path}")


_JUPYTER_CLASSES: dict[type[BufferkitHandler], type[JupyterBufferkitHandler]] = {
    handlers.BuffersHandler: BuffersHandler,
    handlers.BufferHandler: BufferHandler,
    handlers.AppendHandler: AppendHandler,
    handlers.DataHandler: DataHandler,
    handlers.FeaturesHandler: FeaturesHandler,
    handlers.NotFoundHandler: NotFoundHandler,
}


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
        (pattern.lstrip("/"), _JUPYTER_CLASSES[handler])
        for pattern, handler in handlers.api_handlers("/")
    ]


class BufferkitExtension(ExtensionApp):
    """Serve ``/v1/ml/buffers`` from the Jupyter server, with one registry.

    Configure it as ``c.BufferkitExtension.<option>`` in a Jupyter config file or as
    ``--BufferkitExtension.<option>=<value>`` on the ``jupyter server`` command line.
    """

    name = "bufferkit"
    description = "Named sliding-window buffers of numeric columns, served over HTTP."
    load_other_extensions = True

    max_body_size = Int(
        DEFAULT_MAX_BODY_SIZE,
        min=1,
        help="Largest request body the API accepts, in bytes (the same as "
        "'bufferkit serve --max-body-size'); larger bodies get 413. Bodies above "
        "ServerApp.max_body_size are cut off by the server before the API sees them.",
    ).tag(config=True)

    max_buffers = Int(
        0,
        min=0,
        help="Most buffers held at once (the same as 'bufferkit serve "
        "--max-buffers'); creating one more gets 409 'limit_exceeded'. 0 means no "
        "limit.",
    ).tag(config=True)

    registry: Registry

    def initialize_settings(self) -> None:
        """Create the server's registry and put it and the limits in the settings."""
        self.registry = Registry(max_buffers=self.max_buffers or None)
        self.settings.update(
            bufferkit_registry=self.registry,
            bufferkit_max_body_size=self.max_body_size,
        )
        self.log.info(
            "bufferkit API at %sv1/ml/buffers (max_body_size=%d, max_buffers=%s)",
            self.serverapp.base_url if self.serverapp else "/",
            self.max_body_size,
            self.max_buffers or "unlimited",
        )

    def initialize_handlers(self) -> None:
        """Add the API's routes; the ``ExtensionApp`` prefixes them with base_url."""
        self.handlers.extend(extension_handlers())
