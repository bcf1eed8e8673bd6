"""
Shared files: what people share into a room or a private conversation, the
limits on sharing, expiry, and who may delete a shared file.

No HTTP and no disk here.  A front end asks L{Files.issue_token} for a
single-use upload token bound to a person and a destination (a room or a
nick); whoever carries the bytes (the web front end) calls L{Files.begin}
with that token before the body arrives, L{Upload.received} as it arrives,
and L{Files.finish} or L{Files.abort} at the end.  L{Files.finish} records
the file and announces it through the hub, so that every front end shows it
(an action, C{* alice shared report.pdf (1.2 MB): https://.../files/ID/report.pdf})
and history keeps it.

Each refusal is a L{Refused} whose C{reason} is protocol-neutral; the web
front end turns it into an HTTP status.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Protocol
from urllib.parse import quote

from . import errors, names

if TYPE_CHECKING:
    from .hub import Hub, User

MiB = 1024 * 1024
GiB = 1024 * MiB
DAY = 24 * 60 * 60
HOUR = 60 * 60
# Upload tokens: how long one stays usable, and how many one person may hold.
TOKEN_LIFETIME = 10 * 60
TOKENS_PER_USER = 5
NAME_MAX_LENGTH = 200
# Types shown in the browser (inline); everything else is downloaded.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True)
class FileLimits:
    """
    The limits on sharing files, each with its option.

    @ivar max_size: bytes per file (C{--upload-max-size}).
    @ivar per_hour: uploads one person may start in an hour
        (C{--uploads-per-hour}).
    @ivar total: bytes all shared files may take together
        (C{--upload-storage}).
    @ivar days: days a file is kept (C{--upload-days}); 0 keeps it for ever.
    @ivar idle_timeout: every so many seconds an upload must have sent 1 KiB
        a second, else it is abandoned (C{--upload-timeout}).
    @ivar requires_account: only people logged in to an account may share
        files (C{--upload-requires-account}).
    """

    max_size: int = 25 * MiB
    per_hour: int = 30
    total: int = 5 * GiB
    days: float = 30
    idle_timeout: float = 30.0
    requires_account: bool = False


@dataclass(frozen=True, slots=True)
class SharedFile:
    """
    One shared file.

    @ivar id: random (144 bits): the link's key and the name on disk.
    @ivar name: the name the uploader gave, made safe (L{safe_name}); only
        shown, never used as a path.
    @ivar type: the type sniffed from the bytes, never the client's word.
    @ivar uploader: the uploader's nick at the time.
    @ivar target: the room's name or the nick it was shared with.
    @ivar room: the room's folded name, or C{""} for a private share.
    @ivar expires: when it expires (seconds since the epoch); 0 for never.
    @ivar gone: C{""} while it can be fetched, else C{"expired"} or
        C{"deleted"}.
    @ivar account: the uploader's account, if they were logged in to one
        (any session of it may delete the file); else C{""}.
    """

    id: str
    name: str
    size: int
    type: str
    uploader: str
    target: str
    room: str
    time: float
    expires: float
    gone: str = ""
    account: str = ""

    @property
    def inline(self) -> bool:
        """Whether browsers may show it in the page rather than download it."""
        return self.type in INLINE_TYPES


class FileRecords(Protocol):
    """What L{Files} needs from a store: the shared files' records."""

    def load_files(self) -> list[SharedFile]:
        """Every record kept, at start-up (synchronously, before any client)."""

    def save_file(self, file: SharedFile) -> None:
        """Keep C{file} (new or changed); never blocks."""


class Refused(errors.ChatError):
    """
    An upload or a deletion is refused.

    @ivar reason: one of C{"unauthorized"} (no valid token or password),
        C{"login-required"} (only account holders may share), C{"too-large"},
        C{"quota"} (too many uploads this hour), C{"storage-full"},
        C{"empty"}, C{"not-found"}, C{"forbidden"}, C{"cannot-share"} (the
        destination refuses the uploader now).
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class UploadToken:
    """A single-use permission for C{user} to share one file with C{target}."""

    secret: str
    user: User
    target: str
    expires: float


@dataclass
class Upload:
    """
    An upload under way: it holds C{limit} bytes of the storage limit
    until it ends, and refuses bytes past the limits as they arrive.

    @ivar user: the session that asked for the token; C{None} for an
        upload made with an account's password (FILEHOST), which is only
        stored.
    @ivar account: the uploader's account name, or C{""}.
    """

    id: str
    user: User | None
    target: str
    limit: int
    files: Files
    size: int = 0
    account: str = ""

    def received(self, count: int) -> None:
        """
        C{count} more bytes arrived.

        @raise Refused: the file is now larger than the size limit or the
            storage left.
        """
        self.size += count
        if self.size > self.limit:
            self.files._refuse_size(self.size)


def safe_name(name: str) -> str:
    """
    C{name} as it may be shown and offered as a download name: without any
    directory part, control or format characters, quotes or backslashes,
    leading dots or spaces, at most L{NAME_MAX_LENGTH} characters; C{"file"}
    if nothing is left.
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] not in "CZ" or c == " ")
    name = name.replace('"', "'").strip().lstrip(".").strip()
    return name[:NAME_MAX_LENGTH] or "file"


def human_size(size: int) -> str:
    """C{size} bytes for people: C{"512 bytes"}, C{"1.2 MB"}, C{"3.4 GB"}."""
    if size < 1000:
        return "1 byte" if size == 1 else f"{size} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 999.95 or unit == "TB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


class Files:
    """
    The shared files of one server, and the uploads under way.

    @ivar base_url: where the web front end is reached from outside, without
        a trailing slash (C{https://chat.example.org:8443}).
    @ivar used: bytes taken by stored files and by uploads under way.
    """

    def __init__(self, hub: Hub, records: FileRecords, base_url: str,
                 limits: FileLimits = FileLimits(),
                 remove: Callable[[str], None] = lambda file_id: None):
        """
        @param remove: removes a file's bytes, given its id, once it has
            expired or been deleted.
        """
        self.hub = hub
        self.remove = remove
        self.clock = hub.clock
        self.records = records
        self.base_url = base_url.rstrip("/")
        self.limits = limits
        self._files: dict[str, SharedFile] = {}
        self._tokens: dict[str, UploadToken] = {}
        self._started: dict[str, deque[float]] = {}
        # Who uploaded which file in this session, for uploaders without an
        # account (a file's account lets any session of it delete it).
        self._uploaders: dict[str, User] = {}
        self.used = 0
        for file in records.load_files():
            self._files[file.id] = file
            if not file.gone:
                self.used += file.size

    # Tokens

    def issue_token(self, user: User, target: str) -> UploadToken:
        """
        A new single-use token for C{user} to share one file with C{target}
        (a room they may speak in, or a nick; C{""} to only store it, for
        clients that post the link themselves), usable for
        L{TOKEN_LIFETIME} seconds.

        @raise errors.ChatError: C{target} does not exist or refuses them;
            L{Refused} (C{"login-required"}) when only account holders may
            share and they are not logged in.
        """
        self._check_account(user)
        target = self._check_target(user, target)
        now = self.clock.seconds()
        self._drop_stale_tokens(now)
        mine = [t for t in self._tokens.values() if t.user is user]
        if len(mine) >= TOKENS_PER_USER:
            del self._tokens[min(mine, key=lambda t: t.expires).secret]
        token = UploadToken(secrets.token_urlsafe(24), user, target, now + TOKEN_LIFETIME)
        self._tokens[token.secret] = token
        return token

    def upload_url(self, token: UploadToken) -> str:
        return f"{self.base_url}/upload/{token.secret}"

    def curl_command(self, token: UploadToken, file_name: str = "FILE") -> str:
        """The command a terminal user runs to upload with C{token}."""
        return f"curl -T {file_name} {self.upload_url(token)}"

    def _drop_stale_tokens(self, now: float) -> None:
        for secret in [s for s, t in self._tokens.items() if t.expires <= now]:
            del self._tokens[secret]

    def _check_account(self, user: User) -> None:
        if self.limits.requires_account and not user.account:
            raise Refused("login-required", "Only people logged in to an account may share "
                                            "files here; log in first (/login NAME PASSWORD, "
                                            "or SASL), or register one.")

    def _check_target(self, user: User, target: str) -> str:
        if not target:
            return ""  # FILEHOST: the client posts the link itself
        if target.startswith("#"):
            room = self.hub.find_room(target)
            if not room.may_speak(user) or not room.is_member(user):
                raise errors.CannotSend(f"You cannot share files in {room.name} now.")
            return room.name
        return self.hub.find_user(target).nick

    # Uploading

    def begin(self, secret: str, length: int | None) -> Upload:
        """
        Start an upload with the token C{secret}, which is used up, for a
        body of C{length} bytes (C{None} when not announced).

        @raise Refused: the token is unknown, used or stale, its owner has
            signed out or may no longer share there, the file is too large,
            the owner has uploaded too much this hour, or storage is full.
        """
        now = self.clock.seconds()
        token = self._tokens.pop(secret, None)
        if token is None or token.expires <= now or not self._signed_in(token.user):
            raise Refused("unauthorized", "This upload link is not valid (each is used "
                                          "once, within 10 minutes); ask for a new one.")
        self._check_account(token.user)
        try:
            self._check_target(token.user, token.target)
        except errors.ChatError as problem:
            raise Refused("cannot-share", str(problem)) from None
        account = token.user.account or ""
        return self._start(token.user, token.target, account, length,
                           _quota_key(account) if account else token.user.key)

    def begin_for_account(self, account: str, length: int | None) -> Upload:
        """
        Start an upload by the holder of C{account}, whose password the
        caller has checked (FILEHOST with the account's credentials): the
        file is only stored, for them to post its link themselves.

        @raise Refused: the file is too large, the account has uploaded too
            much this hour, or storage is full.
        """
        return self._start(None, "", account, length, _quota_key(account))

    def has_token(self, secret: str) -> bool:
        """Whether C{secret} is an upload token that may still be used."""
        token = self._tokens.get(secret)
        return token is not None and token.expires > self.clock.seconds()

    def _start(self, user: User | None, target: str, account: str,
               length: int | None, quota_key: str) -> Upload:
        now = self.clock.seconds()
        limits = self.limits
        if length is not None and length > limits.max_size:
            self._refuse_size(length)
        # The hourly count is the account's when there is one (every
        # session and nick of it together), else the nick's.
        started = self._started.setdefault(quota_key, deque())
        while started and started[0] <= now - HOUR:
            started.popleft()
        if len(started) >= limits.per_hour:
            raise Refused("quota", f"You may share {limits.per_hour} files an hour; "
                                   "try again later.")
        # An upload holds the storage it may take: its announced length, or
        # as much as a file may have when the length is not announced.
        room = limits.total - self.used
        hold = length if length is not None else min(limits.max_size, room)
        if hold > room or room <= 0:
            self._refuse_storage()
        started.append(now)
        upload = Upload(secrets.token_urlsafe(18), user, target, hold, self, account=account)
        self.used += hold
        return upload

    def _refuse_size(self, size: int) -> None:
        if size > self.limits.max_size:
            raise Refused("too-large", f"A file may have at most "
                                       f"{human_size(self.limits.max_size)}.")
        self._refuse_storage()

    def _refuse_storage(self) -> None:
        raise Refused("storage-full", "The server's storage for shared files is full; "
                                      "try again when older files have expired.")

    def abort(self, upload: Upload) -> None:
        """The upload failed or was refused: give back what it held."""
        self.used -= upload.limit
        upload.limit = 0

    def finish(self, upload: Upload, name: str, file_type: str) -> SharedFile:
        """
        The upload is complete: keep a record of it, announce it to its
        destination and return it.  The caller removes the bytes if this
        raises.

        @raise Refused: the file is empty, or its uploader may no longer
            share with its destination.
        """
        self.abort(upload)
        if upload.size == 0:
            raise Refused("empty", "The file is empty; there is nothing to share.")
        user = upload.user
        if user is not None and not self._signed_in(user):
            raise Refused("cannot-share", "You signed out before the upload finished.")
        now = self.clock.seconds()
        days = self.limits.days
        file = SharedFile(upload.id, safe_name(name), upload.size, file_type,
                          user.nick if user is not None else upload.account,
                          upload.target, names.fold(upload.target)
                          if upload.target.startswith("#") else "",
                          now, now + days * DAY if days else 0, account=upload.account)
        if upload.target and user is not None:
            try:
                self.hub.share_file(user, upload.target, self.announcement(file), file.id)
            except errors.ChatError as problem:
                raise Refused("cannot-share", str(problem)) from None
        self._files[file.id] = file
        if user is not None:
            self._uploaders[file.id] = user
        self.used += file.size
        self.records.save_file(file)
        return file

    def _signed_in(self, user: User) -> bool:
        try:
            return self.hub.find_user(user.nick) is user
        except errors.NoSuchNick:
            return False

    # Links and lookups

    def link(self, file: SharedFile) -> str:
        return f"{self.base_url}/files/{file.id}/{quote(file.name)}"

    def announcement(self, file: SharedFile) -> str:
        """What everyone sees, after the uploader's nick, as an action."""
        return f"shared {file.name} ({human_size(file.size)}): {self.link(file)}"

    def find(self, file_id: str) -> SharedFile | None:
        """The file called C{file_id}, marked expired once its time has come."""
        file = self._files.get(file_id)
        if file is not None and not file.gone and file.expires and \
                file.expires <= self.clock.seconds():
            file = self._forget(file, "expired")
        return file

    def live_ids(self) -> set[str]:
        """The ids of the files that may still be fetched."""
        return {file.id for file in self._files.values() if not file.gone}

    # Ending

    def delete(self, user: User, file_id: str) -> SharedFile:
        """
        Delete a shared file, as its uploader (from any session of the
        account they were logged in to, else from the session that uploaded
        it), an operator of its room, or a server operator.

        @raise Refused: there is no such file, or C{user} may not.
        """
        file = self.find(file_id)
        if file is None or file.gone:
            raise Refused("not-found", "There is no such shared file (it may have "
                                       "expired or been deleted).")
        if not self._may_delete(user, file):
            raise Refused("forbidden", "Only the uploader, the room's operators and "
                                       "server operators may delete a shared file.")
        return self._forget(file, "deleted")

    def _may_delete(self, user: User, file: SharedFile) -> bool:
        if user.is_operator or self._uploaders.get(file.id) is user:
            return True
        if file.account and user.account and \
                names.fold(file.account) == names.fold(user.account):
            return True
        if not file.room:
            return False
        try:
            return self.hub.find_room(file.room).is_operator(user)
        except errors.NoSuchRoom:
            return False

    def expire(self) -> list[SharedFile]:
        """
        Mark every file whose time has come expired (removing its bytes);
        return them.  Also forget what is kept only for people who have
        signed out since (their sessions, their hourly counts), so that
        nothing grows with the people who ever shared a file.
        """
        now = self.clock.seconds()
        self._drop_stale_tokens(now)
        for file_id, user in list(self._uploaders.items()):
            if not self._signed_in(user):
                del self._uploaders[file_id]
        for key, started in list(self._started.items()):
            if not started or started[-1] <= now - HOUR:
                del self._started[key]
        return [self._forget(file, "expired") for file in list(self._files.values())
                if not file.gone and file.expires and file.expires <= now]

    def _forget(self, file: SharedFile, why: str) -> SharedFile:
        gone = replace(file, gone=why)
        self._files[file.id] = gone
        self._uploaders.pop(file.id, None)
        self.used -= file.size
        self.records.save_file(gone)
        self.remove(file.id)
        return gone

    @staticmethod
    def parse_link(text: str) -> str:
        """The file id in a link or an id C{text} (for deletion commands)."""
        text = text.strip()
        if "/files/" in text:
            text = text.split("/files/", 1)[1]
        return text.split("/", 1)[0]


def _quota_key(account: str) -> str:
    """The hourly count's key for an account (apart from nicks', which hold no C{:})."""
    return "account:" + names.fold(account)
