"""
File sharing over HTTP: uploads that stream to disk, and shared files served
so that no browser runs them.

Wire protocol
=============
Uploading (the FILEHOST style that soju specifies and gamja, Goguma and
halloy speak, plus C{curl -T})::

    POST /upload            body = the file; Authorization: Bearer TOKEN
    PUT  /upload            (or Basic with any user name and TOKEN as password)
    POST /upload            Authorization: Basic base64(ACCOUNT:PASSWORD)
    POST /upload/TOKEN      the token in the path instead
    PUT  /upload/TOKEN[/NAME]   what ``curl -T NAME URL/upload/TOKEN/`` sends

A token comes from IRC's ``UPLOAD`` command (the page and IRC clients) or
the line chat's ``/upload``; each works once, for ten minutes.  Basic
credentials whose password is not a live token are an account's name and
password (what FILEHOST clients logged in with SASL send): checked as soon
as the headers are in, before any of the body is read (the connection is
paused meanwhile, and ``100 Continue`` waits for the answer), through the
accounts' login with its brute-force limits.  Such a file is only stored,
for its uploader to post the link.  The file's
name is the ``filename`` of ``Content-Disposition: attachment; filename=...``,
else the ``NAME`` in the path, else ``file``; its ``Content-Type`` is not
believed.  ``Content-Length`` or a chunked body both work.

 - ``201 Created`` with ``Location: <link>`` and the link as the body: the
   file is kept and, for a token asked for a room or a nick, announced there.
 - ``401`` no token, or one unknown, used or stale, or the wrong account
   password (with ``WWW-Authenticate: Basic realm="chatservice"``), or
   the server lets only account holders share and the token's owner is
   not logged in; ``429`` too many failed logins too; ``403`` its owner may no
   longer share there; ``413`` larger than the size limit (by its
   ``Content-Length`` at once, or as the body arrives); ``429`` too many
   uploads this hour; ``507`` the server's storage for files is full or its
   disk failed; ``408`` less than 1 KiB a second arrived during one idle
   timeout (C{--upload-timeout}); ``400`` an empty file.  A refusal before or during the body is answered at once and
   the connection is closed; what arrived is removed.
 - ``OPTIONS /upload`` answers ``204`` with ``Allow`` and ``Accept-Post``.

Downloading: ``GET`` or ``HEAD /files/ID/NAME`` (``NAME`` is only for
people); ``Range`` works.  ``404`` for no such file, ``410`` for an expired
or deleted one.  PNG, JPEG, GIF and WebP, as sniffed from the bytes, are
``inline``; everything else is ``application/octet-stream`` and
``attachment``.  Every answer carries ``X-Content-Type-Options: nosniff``,
``Content-Security-Policy: sandbox; default-src 'none'`` and
``Referrer-Policy: no-referrer``.

The body never sits whole in memory: L{UploadRequest} (the site's request
class) takes over a request for C{/upload} as soon as its headers are in
(C{gotLength}), checks the token and the announced length there, and writes
each chunk to the file as it arrives, counting.
"""

from __future__ import annotations

import base64
import email.message
import errno
from typing import Any
from urllib.parse import quote, unquote

import filetype
from twisted.logger import Logger
from twisted.web import http, server
from twisted.web.resource import Resource
from twisted.web.static import File

from ...core.accounts import AccountError, LoginLimited
from ...core.files import INLINE_TYPES, Files, Refused, Upload

# The first bytes of a body, kept to sniff the file's type from.
SNIFF_BYTES = 8192
# The slowest an upload may go: every --upload-timeout seconds at least this
# many bytes a second must have arrived (a trickle is abandoned like silence).
MIN_RATE = 1024
OCTET_STREAM = "application/octet-stream"

STATUS = {
    "unauthorized": 401,
    "login-required": 401,
    "cannot-share": 403,
    "too-large": 413,
    "quota": 429,
    "storage-full": 507,
    "empty": 400,
    "not-found": 404,
    "forbidden": 403,
}

# What a wrong account password is answered with, so that clients ask again.
CHALLENGE = (b"WWW-Authenticate", b'Basic realm="chatservice"')

FILE_HEADERS = {
    b"X-Content-Type-Options": b"nosniff",
    b"Content-Security-Policy": b"sandbox; default-src 'none'",
    b"Referrer-Policy": b"no-referrer",
}


def sniff(head: bytes) -> str:
    """The type to serve a file whose first bytes are C{head} as."""
    kind = filetype.guess(head) if head else None
    return kind.mime if kind is not None and kind.mime in INLINE_TYPES else OCTET_STREAM


def _credentials(path: list[bytes], headers, files: Files) -> tuple[str, str | None]:
    """
    What a request carries: C{(token, None)} for an upload token (in the
    path, or in Authorization), or C{(password, account)} for an account's
    Basic credentials (whose password is not a live token).
    """
    if path and path[0]:
        return path[0].decode("ascii", "replace"), None
    authorization = headers.getRawHeaders(b"authorization", [b""])[0]
    scheme, _, value = authorization.partition(b" ")
    scheme = scheme.lower()
    if scheme == b"bearer":
        return value.strip().decode("ascii", "replace"), None
    if scheme == b"basic":
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode(
                "utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", None
        if user and not files.has_token(password):
            return password, user
        return password, None
    return "", None


def _given_name(request_path: list[bytes], headers) -> str:
    disposition = headers.getRawHeaders(b"content-disposition", [b""])[0]
    if disposition:
        parsed = email.message.Message()
        parsed["content-disposition"] = disposition.decode("utf-8", "replace")
        try:
            name = parsed.get_filename()
        except Exception:  # whatever a client makes of RFC 2231
            name = None
        if name:
            return name
    if len(request_path) > 1 and request_path[-1]:
        return unquote(request_path[-1].decode("utf-8", "replace"))
    return "file"


def _disposition(name: str, inline: bool) -> bytes:
    """A Content-Disposition header value: ASCII name plus RFC 5987's UTF-8 one."""
    plain = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return (f"{'inline' if inline else 'attachment'}; filename=\"{plain}\"; "
            f"filename*=UTF-8''{quote(name, safe='')}").encode("ascii")


class UploadRequest(server.Request):
    """
    The web site's request: like Twisted's, except that a C{POST} or
    C{PUT} to C{/upload} streams its body to a shared file.

    @ivar upload: the upload under way, once accepted.
    """

    log = Logger()
    upload: Upload | None = None
    refused = False
    _file: Any = None
    _head = b""
    _idle = None
    # While an account's password is checked: the chunks that arrived
    # meanwhile (at most one read: the connection is paused), whether the
    # client waits for "100 Continue", and the end of the request if it came.
    _pending: list[bytes] | None = None
    _continue = False
    _held: tuple | None = None
    _lost = False

    def gotLength(self, length: int | None) -> None:
        channel = self.channel
        command = getattr(channel, "_command", b"")
        path = getattr(channel, "_path", b"").split(b"?", 1)[0]
        sharing = getattr(channel.site, "sharing", None)
        if command not in (b"POST", b"PUT") or not (
                path == b"/upload" or path.startswith(b"/upload/")):
            return super().gotLength(length)
        # What arrives goes to the file, not to self.content.
        super().gotLength(0)
        files = sharing.files if sharing is not None else None
        if files is None:
            return self._refuse(404, "This server does not take files.")
        self._path_parts = path.split(b"/")[2:]
        self._files, self._uploads = files, sharing.uploads
        secret, account = _credentials(self._path_parts, self.requestHeaders, files)
        if account is not None:
            return self._log_in(account, secret, length)
        try:
            upload = files.begin(secret, length)
        except Refused as problem:
            return self._refuse(STATUS[problem.reason], str(problem))
        self._accept(upload)

    def _accept(self, upload: Upload) -> None:
        """Take the body of C{upload} from now on, into its file."""
        files = self._files
        self.upload = upload
        try:
            self._file = self._uploads.create(upload.id)
        except OSError as problem:
            return self._failed(problem)
        self._checked = 0
        self._idle = files.clock.callLater(files.limits.idle_timeout, self._check_pace)

    def _log_in(self, account: str, password: str, length: int | None) -> None:
        """
        Check an account's password (in a thread, under the accounts'
        brute-force limits) before reading the body: the connection is
        paused and no "100 Continue" is sent until the answer.
        """
        accounts = self._files.hub.accounts
        if accounts is None:
            return self._refuse(401, "This server has no accounts; upload with a token "
                                     "(UPLOAD or /upload).", CHALLENGE)
        self._pending = []
        expect = self.requestHeaders.getRawHeaders(b"expect", [b""])[0]
        self._continue = expect.lower() == b"100-continue" and \
            getattr(self.channel, "_version", b"") == b"HTTP/1.1"
        self.requestHeaders.removeHeader(b"expect")
        self.channel.transport.pauseProducing()
        checked = accounts.login(account, password, self._address())
        checked.addCallbacks(self._logged_in, self._login_failed, callbackArgs=(length,))
        checked.addErrback(self._broken)

    def _broken(self, failure) -> None:
        """A bug after the check: say so rather than leave the client paused."""
        self.log.failure("An account upload could not be started", failure)
        self._pending = None
        if not self._lost:
            self._refuse(500, "The server failed to take the file; it was not shared.")

    def _address(self) -> str:
        """The client's address, as the web front end counts it (proxies trusted)."""
        peer = self.channel.transport.getPeer()
        sockets = getattr(self.channel.site, "sockets", None)
        if sockets is not None:
            forwarded = self.requestHeaders.getRawHeaders(b"x-forwarded-for", [b""])[-1]
            peer = sockets.client_address(peer, forwarded.decode("latin-1"))
        return getattr(peer, "host", str(peer))

    def _logged_in(self, account, length: int | None) -> None:
        pending, self._pending = self._pending, None
        if self._lost:
            return
        try:
            upload = self._files.begin_for_account(account.name, length)
        except Refused as problem:
            return self._refuse(STATUS[problem.reason], str(problem))
        self._accept(upload)
        if self.refused:
            return
        if self._continue:
            self.channel.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        for chunk in pending:
            self.handleContentChunk(chunk)
        held, self._held = self._held, None
        if self.refused:
            return
        self.channel.transport.resumeProducing()
        if held is not None:
            super().requestReceived(*held)

    def _login_failed(self, failure) -> None:
        self._pending = None
        if self._lost:
            return
        if failure.check(LoginLimited):
            return self._refuse(429, str(failure.value),
                                (b"Retry-After", b"%d" % failure.value.wait))
        if failure.check(AccountError):
            return self._refuse(401, "Wrong account name or password; nothing was stored.",
                                CHALLENGE)
        self.log.failure("An account's password could not be checked", failure)
        self._refuse(503, "Accounts are not available now; try again later.")

    def requestReceived(self, command, path, version) -> None:
        if self._pending is not None:
            # The whole body came while the password is checked: answer after.
            self._held = (command, path, version)
            return
        super().requestReceived(command, path, version)

    def handleContentChunk(self, data: bytes) -> None:
        if self._pending is not None:
            self._pending.append(data)
            return
        if self.upload is None:
            if not self.refused:
                super().handleContentChunk(data)
            return
        try:
            self.upload.received(len(data))
        except Refused as problem:
            return self._refuse(STATUS[problem.reason], str(problem))
        if len(self._head) < SNIFF_BYTES:
            self._head += data[:SNIFF_BYTES - len(self._head)]
        try:
            self._file.write(data)
        except OSError as problem:
            return self._failed(problem)

    def _check_pace(self) -> None:
        """Every idle timeout: abandon an upload that sent too little meanwhile."""
        timeout = self._files.limits.idle_timeout
        size = self.upload.size
        if size - self._checked < max(1, MIN_RATE * timeout):
            self._idle = None
            self._refuse(408, "The upload stalled or went too slowly; it is abandoned.")
            return
        self._checked = size
        self._idle = self._files.clock.callLater(timeout, self._check_pace)

    def _failed(self, problem: OSError) -> None:
        self.log.error("A shared file could not be written: {problem}",
                       problem=problem.strerror or problem)
        code = 507 if problem.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else 500
        self._refuse(code, "The server could not store the file (a disk problem); "
                           "it was not shared.")

    def _refuse(self, code: int, message: str, *headers: tuple[bytes, bytes]) -> None:
        """Answer C{code} now, close the connection and drop what arrived."""
        self._discard()
        if self.refused:
            return
        self.refused = True
        # No "100 Continue" after the refusal.
        self.requestHeaders.removeHeader(b"expect")
        body = (message + "\n").encode("utf-8")
        reason = http.RESPONSES.get(code, b"Refused")
        transport = self.channel.transport
        extra = b"".join(b"%s: %s\r\n" % header for header in headers)
        transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        b"%sContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                        % (code, reason, extra, len(body), body))
        transport.loseConnection()

    def _discard(self) -> None:
        """Give back the upload's storage and remove its partial file."""
        if self._idle is not None and self._idle.active():
            self._idle.cancel()
        self._idle = None
        upload, self.upload = self.upload, None
        if upload is None:
            return
        self._files.abort(upload)
        if self._file is not None:
            self._file.close()
            self._file = None
        self._uploads.remove(upload.id)

    def connectionLost(self, reason) -> None:
        self._lost = True
        self._pending = None
        self._discard()
        super().connectionLost(reason)

    def complete(self) -> tuple[int, str]:
        """
        The body has all arrived: share the file.  Return the status and the
        text to answer with (the link, or why not).
        """
        upload = self.upload
        if self._idle is not None and self._idle.active():
            self._idle.cancel()
        self._idle = None
        self._file.close()
        self._file = None
        self.upload = None
        files = self._files
        name = _given_name(self._path_parts, self.requestHeaders)
        try:
            shared = files.finish(upload, name, sniff(self._head))
        except Refused as problem:
            self._uploads.remove(upload.id)
            return STATUS[problem.reason], str(problem)
        self.log.info("{nick} shared a file of {size} bytes", nick=shared.uploader,
                      size=shared.size)
        return 201, files.link(shared)


class UploadResource(Resource):
    """C{/upload} and C{/upload/TOKEN[/NAME]}: see the module's docstring."""

    isLeaf = True
    ALLOWED = b"OPTIONS, POST, PUT"

    def __init__(self, allowed_origins=()):
        super().__init__()
        self.allowed_origins = {origin.encode() for origin in allowed_origins}

    def _cors(self, request) -> None:
        origin = request.getHeader(b"origin")
        if origin and origin in self.allowed_origins:
            request.setHeader(b"Access-Control-Allow-Origin", origin)
            request.setHeader(b"Access-Control-Allow-Methods", self.ALLOWED)
            request.setHeader(b"Access-Control-Allow-Headers",
                              b"Authorization, Content-Type, Content-Disposition")
            request.setHeader(b"Access-Control-Expose-Headers", b"Location")
            request.setHeader(b"Vary", b"Origin")

    def render_OPTIONS(self, request) -> bytes:
        self._cors(request)
        request.setResponseCode(204)
        request.setHeader(b"Allow", self.ALLOWED)
        request.setHeader(b"Accept-Post", b"*/*")
        return b""

    def render_POST(self, request) -> bytes:
        self._cors(request)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        if not isinstance(request, UploadRequest) or request.upload is None:
            request.setResponseCode(400)
            return b"Nothing was uploaded.\n"
        code, text = request.complete()
        request.setResponseCode(code)
        if code == 201:
            request.setHeader(b"Location", text.encode("ascii"))
        return (text + "\n").encode("utf-8")

    render_PUT = render_POST

    def render_GET(self, request) -> bytes:
        request.setResponseCode(405)
        request.setHeader(b"Allow", self.ALLOWED)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"Upload with POST or PUT.\n"


class _Text(Resource):
    isLeaf = True

    def __init__(self, code: int, text: str):
        super().__init__()
        self.code, self.text = code, text

    def render(self, request) -> bytes:
        request.setResponseCode(self.code)
        for name, value in FILE_HEADERS.items():
            request.setHeader(name, value)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return (self.text + "\n").encode("utf-8")


class _SharedFile(File):
    """One shared file's bytes (Range included), with the headers that keep it inert."""

    def __init__(self, path: str, file_type: str, disposition: bytes):
        super().__init__(path, defaultType=file_type)
        self.type = file_type
        self.encoding = None
        self.disposition = disposition

    def render_GET(self, request):
        for name, value in FILE_HEADERS.items():
            request.setHeader(name, value)
        request.setHeader(b"Content-Disposition", self.disposition)
        # Revalidated each time, so that a deleted file is not shown from a cache.
        request.setHeader(b"Cache-Control", b"private, no-cache")
        return super().render_GET(request)

    render_HEAD = render_GET

    def getChild(self, path, request):
        return _Text(404, "There is no such file.")


class FilesResource(Resource):
    """C{/files/ID/NAME}: a shared file, or why it is not there."""

    def __init__(self, sharing):
        super().__init__()
        self.sharing = sharing

    def getChild(self, path: bytes, request):
        files: Files | None = self.sharing.files
        try:
            file_id = path.decode("ascii")
        except UnicodeDecodeError:
            file_id = ""
        found = files.find(file_id) if files is not None and file_id else None
        if found is None:
            return _Text(404, "There is no such file.")
        if found.gone:
            return _Text(410, f"This file has {found.gone}; it is no longer shared.")
        try:
            where = self.sharing.uploads.path_of(found.id)
        except ValueError:
            return _Text(404, "There is no such file.")
        # The name after the id is only for people; whatever it is, the
        # file is the one the id names.
        request.postpath = []
        return _SharedFile(where, found.type, _disposition(found.name, found.inline))

    def render(self, request):
        return _Text(404, "There is no such file.").render(request)
