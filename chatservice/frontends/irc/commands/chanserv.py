"""
ChanServ: room founders and their account operators, for IRC clients.

Wire protocol
=============
``PRIVMSG ChanServ :<command> <arguments>`` (or ``CHANSERV ...``, ``CS ...``)
with OP <#room> <nick>, DEOP <#room> <nick>, INFO <#room> and HELP.  Answers
are ``NOTICE``s from ``ChanServ!ChanServ@services``.  OP and DEOP are the
founder's: they make the account C{nick} is logged in to an operator of the
room for good (or no longer), as line chat's ``/op`` and ``/deop`` do
(L{chatservice.core.founders}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ....core import errors
from ....core.accounts import FOUNDER
from ....core.hub import User
from ..wire import Message
from .services import Service
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection

SERVICE = Service("ChanServ")
NAME = SERVICE.name
SOURCE = SERVICE.source

HELP = (
    "ChanServ keeps room founders and operators. Commands:",
    "OP <#room> <nick>  make nick's account an operator of the room, for good (founders)",
    "DEOP <#room> <nick>  take that back (founders)",
    "INFO <#room>  who founded the room and who runs it",
)


def is_chanserv(target: str) -> bool:
    return SERVICE.addressed(target)


_say = SERVICE.say


def handle(conn: IRCConnection, user: User, text: str) -> None:
    """Run one ChanServ command C{text} for C{user}."""
    roles = conn.hub.room_roles
    words = text.split()
    verb = words[0].upper() if words else "HELP"
    if roles is None:
        _say(conn, "This server has no accounts.")
        return
    try:
        if verb in ("OP", "DEOP") and len(words) >= 3:
            checking = roles.set_operator(user, words[1], words[2], verb == "OP")
        elif verb == "INFO" and len(words) >= 2:
            room = conn.hub.find_room(words[1])
            checking = roles.accounts.store.room_roles(room.key).addCallback(
                lambda found: _info(room.name, found))
        else:
            for line in HELP:
                _say(conn, line)
            return
    except errors.ChatError as refusal:
        _say(conn, str(refusal))
        return

    SERVICE.run(conn, user, checking, lambda said: _say(conn, said))


def _info(room: str, roles: dict[str, str]) -> str:
    if not roles:
        return f"{room} has no founder."
    founders = [account for account, role in roles.items() if role == FOUNDER]
    ops = sorted(account for account, role in roles.items() if role != FOUNDER)
    return (f"{room} was founded by {', '.join(founders) or 'nobody'}; operators: "
            f"{', '.join(ops) or 'none'}.")


@command("CHANSERV")
def chanserv(conn: IRCConnection, user: User, message: Message) -> None:
    handle(conn, user, " ".join(message.params))


@command("CS")
def cs(conn: IRCConnection, user: User, message: Message) -> None:
    handle(conn, user, " ".join(message.params))
