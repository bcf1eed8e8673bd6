"""
Shared files: UPLOAD (a single-use upload link) and DELETEFILE.

``UPLOAD [<#room>|<nick>]`` answers a server NOTICE with the link and the
``curl`` command::

    :server NOTICE alice :Upload one file to #room within 10 minutes: curl -T FILE https://host:8080/upload/TOKEN/

The file, once uploaded, is announced to the room or the nick as an action
(``* alice shared report.pdf (1.2 MB): https://host:8080/files/ID/report.pdf``).
Without a target the file is only stored, and the link is the upload's
answer: what FILEHOST clients want, which post the link themselves.
ISUPPORT says where uploads go: ``draft/FILEHOST=https://host:8080/upload``
(the token goes in ``Authorization: Bearer``, or as a Basic password; an
account's name and password in Basic need no token).  With
C{--upload-requires-account}, someone not logged in gets
``FAIL UPLOAD ACCOUNT_REQUIRED :<why>``.

``DELETEFILE <link|id>`` deletes a shared file, as its uploader (any session
of their account, or the same session without one), an operator of its
room, or a server operator; a NOTICE says what happened.  Both are unknown (421) on a server without a web front end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ....core import errors
from ....core.files import TOKEN_LIFETIME, Refused
from ....core.hub import User
from .. import numerics as N
from ..wire import Message
from .common import _refusal
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection


def _files(conn: IRCConnection, message: Message):
    files = conn.hub.files
    if files is None:
        conn.numeric(N.ERR_UNKNOWNCOMMAND, message.command, "Unknown command")
    return files


@command("UPLOAD")
def upload(conn: IRCConnection, user: User, message: Message) -> None:
    files = _files(conn, message)
    if files is None:
        return
    target = message.params[0] if message.params else ""
    try:
        token = files.issue_token(user, target)
    except Refused as refusal:
        # Only "login-required" comes from issuing a token: IRCv3's
        # standard reply for it, which the page shows too.
        conn.line("FAIL", "UPLOAD", "ACCOUNT_REQUIRED", str(refusal))
        return
    except errors.ChatError as refusal:
        _refusal(conn, refusal, target)
        return
    where = f"to {token.target}" if token.target else "(you post the link yourself)"
    conn.line("NOTICE", user.nick,
              f"Upload one file {where} within {TOKEN_LIFETIME // 60} minutes: "
              f"{files.curl_command(token)}/")


@command("DELETEFILE", 1, nonempty=1)
def deletefile(conn: IRCConnection, user: User, message: Message) -> None:
    files = _files(conn, message)
    if files is None:
        return
    try:
        deleted = files.delete(user, files.parse_link(message.params[0]))
    except Refused as refusal:
        conn.line("NOTICE", user.nick, str(refusal))
        return
    conn.line("NOTICE", user.nick, f"Deleted {deleted.name}; its link answers 410 now.")
