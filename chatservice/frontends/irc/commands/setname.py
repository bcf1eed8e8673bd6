"""
SETNAME (IRCv3 setname): change one's real name after registration.

C{SETNAME :new real name} sets it on every front end (WHOIS, WHO); clients
that negotiated the C{setname} capability, the sender's own included, see
C{:nick!user@host SETNAME :new real name} from those sharing a channel with
them (and, with extended-monitor, from those they MONITOR).  An empty or
too long name gets C{FAIL SETNAME INVALID_REALNAME}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ....core import errors
from ....core.hub import REALNAME_MAX_LENGTH, User
from ..wire import Message
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection


@command("SETNAME", 1)
def setname(conn: IRCConnection, user: User, message: Message) -> None:
    try:
        event = conn.hub.set_realname(user, message.params[0])
    except errors.TooLong:
        conn.line("FAIL", "SETNAME", "INVALID_REALNAME",
                  f"A real name has 1 to {REALNAME_MAX_LENGTH} characters")
        return
    conn.echo(event)
