"""
The web front end: a chat page at ``/`` and IRC over WebSocket at ``/ws``
(and at ``/`` too, for a request that asks to upgrade: IRC clients given
only ``ws://host:port`` connect there); shared files' uploads at ``/upload``
and downloads at ``/files/`` (see L{files}).

The page (``static/``: plain HTML, CSS and JavaScript, no build step) is a
small IRC client of ``/ws``; existing web IRC clients can use ``/ws`` too.
Everything the WebSocket carries goes through the IRC front end's code, so
web users are IRC users to everyone else.
"""

from __future__ import annotations

from pathlib import Path

from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import File

from ..irc import IRCFactory
from .files import FilesResource, UploadRequest, UploadResource
from .websocket import IRCWebSocketFactory, IRCWebSocketResource

STATIC = Path(__file__).parent / "static"

_SECURITY_HEADERS = {
    b"Content-Security-Policy": b"default-src 'self'; connect-src 'self' ws: wss:; "
                                b"img-src 'self' data:; frame-ancestors 'none'",
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
}


class _Static(File):
    """Package files, served with headers that keep the page to itself."""

    # The page's scripts are ES modules, which browsers run only when served
    # with a JavaScript type; do not leave that to the host's mime.types.
    contentTypes = {**File.contentTypes, ".js": "text/javascript", ".mjs": "text/javascript"}

    def render_GET(self, request):
        for name, value in _SECURITY_HEADERS.items():
            request.setHeader(name, value)
        request.setHeader(b"Cache-Control", b"no-cache")
        return super().render_GET(request)

    def directoryListing(self):
        return self.forbidden


def _wants_websocket(request) -> bool:
    """Whether C{request} asks to upgrade to a WebSocket."""
    upgrade = request.getHeader(b"upgrade") or b""
    return b"websocket" in [token.strip().lower() for token in upgrade.split(b",")]


class _Root(Resource):
    def __init__(self, websocket: IRCWebSocketResource, sharing, allowed_origins=()):
        super().__init__()
        self._websocket = websocket
        self.putChild(b"", _Static(str(STATIC / "index.html")))
        self.putChild(b"static", _Static(str(STATIC)))
        self.putChild(b"ws", websocket)
        self.putChild(b"upload", UploadResource(allowed_origins))
        self.putChild(b"files", FilesResource(sharing))

    def getChildWithDefault(self, path, request):
        # ``/`` is the page, unless the request is a WebSocket upgrade.
        if path == b"" and not request.postpath and _wants_websocket(request):
            return self._websocket
        return super().getChildWithDefault(path, request)


class WebSite(Site):
    """The web front end's HTTP site; quiet, because it logs no message bodies anyway."""

    noisy = False
    requestFactory = UploadRequest

    def log(self, request):
        """Requests are not logged one by one (the WebSocket's IRC connection logs)."""


class _NoSharing:
    """File sharing turned off: no files, no uploads."""

    files = None
    uploads = None


def web_site(irc: IRCFactory, allowed_origins=(), trusted_proxies=(),
             sharing=_NoSharing()) -> WebSite:
    """
    Build the web front end around the IRC front end's factory C{irc}.
    C{sharing} has the server's C{files} (L{chatservice.core.files.Files})
    and C{uploads} (L{chatservice.store.uploads.UploadDirectory}) once it
    has started, or C{None} for each.
    """
    sockets = IRCWebSocketFactory(irc, allowed_origins, trusted_proxies)
    site = WebSite(_Root(IRCWebSocketResource(sockets), sharing, allowed_origins))
    # Kept so that a reload can change the origins and proxies.
    site.sockets = sockets
    site.sharing = sharing
    return site
