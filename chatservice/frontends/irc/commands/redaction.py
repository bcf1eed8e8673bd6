"""
IRCv3 draft/message-redaction: REDACT removes a message from a channel.

Wire protocol: C{REDACT <#channel> <msgid> [:<reason>]}.  The sender of the
message (same nick, user name and host), the channel's operators and server
operators may; the message leaves the channel's history, and every member is
told: C{:<redacter> REDACT <#channel> <msgid> [:<reason>]} to clients with
the capability (always to the redacter), a line user gets a notice, and a
client without it keeps what it showed.  Refusals are standard replies:
C{FAIL REDACT INVALID_TARGET <target> :...} (not a channel one is in),
C{UNKNOWN_MSGID <target> <msgid> :...} (no such message there, or not a
message), C{REDACT_FORBIDDEN <target> <msgid> :...}.  A msgid with a piece
suffix (C{<id>.<n>}, a long message split for IRC) redacts the whole
message.  Offered only when the server keeps history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.python.failure import Failure

from ....core import errors
from ....core.hub import User
from .. import labels
from ..wire import Message
from .common import fail
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection

CAPABILITY = "draft/message-redaction"
# Event ids are SQLite integers.
_MAX_ID = 2 ** 63 - 1


def event_id(msgid: str) -> int | None:
    """The event a msgid names (a piece suffix ignored), or C{None}."""
    head = msgid.split(".", 1)[0]
    if not head.isascii() or not head.isdigit() or len(head) > 19:
        return None
    number = int(head)
    return number if 0 < number <= _MAX_ID else None


@command("REDACT", 2, nonempty=2, needs_history=True)
def redact(conn: IRCConnection, user: User, message: Message) -> None:
    target, msgid = message.params[0], message.params[1]
    reason = message.params[2] if len(message.params) > 2 else ""
    number = event_id(msgid)
    try:
        if not target.startswith("#"):
            raise errors.NotInRoom("Only channel messages can be redacted here.")
        # Not an id at all: no message has it (after the channel is checked).
        done = conn.hub.redact(user, target, number or 0, reason)
    except errors.UnknownEvent:
        fail(conn, "REDACT", "UNKNOWN_MSGID", target, msgid, "This message does not exist")
        return
    except errors.ChatError:
        fail(conn, "REDACT", "INVALID_TARGET", target, "You cannot redact in that target")
        return
    # The history read answers later: the label goes with that answer.
    pending = labels.hold(conn)

    def redacted(event) -> None:
        if conn.serving(user):
            with labels.later(conn, pending):
                conn.echo(event)

    def refused(failure: Failure) -> None:
        if not conn.serving(user):
            return
        with labels.later(conn, pending):
            if failure.check(errors.NotYours):
                fail(conn, "REDACT", "REDACT_FORBIDDEN", target, msgid,
                     "You are not allowed to redact that message")
            elif failure.check(errors.UnknownEvent):
                fail(conn, "REDACT", "UNKNOWN_MSGID", target, msgid,
                     "This message does not exist")
            elif failure.check(errors.ChatError):
                fail(conn, "REDACT", "INVALID_TARGET", target,
                     "You cannot redact in that target")
            else:
                conn.log.failure("Redacting for {nick} failed", failure, nick=user.nick)
                fail(conn, "REDACT", "UNKNOWN_MSGID", target, msgid,
                     "The message could not be read")

    done.addCallbacks(redacted, refused)
