"""
WHO, with IRCv3 WHOX: who is in a channel, or whose nickname matches a mask.

Plain C{WHO mask} answers one 352 per person; C{WHO mask %fields[,token]}
(WHOX) answers one 354 per person carrying only the fields asked for, always
in the order C{t c u i h s n f d l a o r} whatever order they were asked in:
t the client's token (up to three digits), c a channel (or C{*}), u the user
name, i the address, h the host, s the server, n the nick, f the flags, d the
hop count (0), l the seconds idle, a the account (C{0}: not logged in), o the channel
op level (C{n/a}), r the real name.  Everyone signed in is listed alike,
whichever front end they use.  C{WHO mask o} lists only server operators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ....core import errors
from ....core.hub import User
from ....core.rooms import Room, mask_matcher
from .. import numerics as N
from ..render import display_host
from ..wire import Message
from .common import _visible
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection


WHOX_FIELDS = "tcuihsnfdlaor"


def who_flags(conn: IRCConnection, user: User, room: Room | None) -> str:
    """H (here) or G (gone), * for a server operator, the channel prefixes, B for a bot."""
    flags = "G" if user.away else "H"
    if user.is_operator:
        flags += "*"
    if room is not None:
        if room.is_operator(user):
            flags += "@"
        # With multi-prefix, every prefix the member has, highest first.
        if user in room.voiced and (not flags.endswith("@") or "multi-prefix" in conn.caps):
            flags += "+"
    if user.bot:
        flags += "B"
    return flags


def parse_whox(argument: str) -> tuple[str, str] | None:
    """
    The WHOX fields (known letters, in reply order) and token of
    C{%fields[,token]}, or C{None} if C{argument} is not WHOX.  A token that
    is not one to three digits is answered as C{0}.
    """
    if not argument.startswith("%"):
        return None
    letters, _, token = argument[1:].partition(",")
    fields = "".join(field for field in WHOX_FIELDS if field in letters)
    if not (token.isascii() and token.isdigit() and len(token) <= 3):
        token = "0"
    return fields, token


def _whox_values(conn: IRCConnection, member: User, room: Room | None,
                 fields: str, token: str) -> list[str]:
    host = display_host(member.host)
    values = {
        "t": lambda: token,
        "c": lambda: room.name if room is not None else "*",
        "u": lambda: member.username,
        "i": lambda: host,
        "h": lambda: host,
        "s": lambda: conn.server,
        "n": lambda: member.nick,
        "f": lambda: who_flags(conn, member, room),
        "d": lambda: "0",
        "l": lambda: str(max(int(conn.clock.seconds() - member.last_spoke), 0)),
        "a": lambda: member.account or "0",
        "o": lambda: "n/a",
        "r": lambda: member.realname,
    }
    return [values[field]() for field in fields]


def _reply(conn: IRCConnection, member: User, room: Room | None,
           whox: tuple[str, str] | None) -> None:
    if whox is not None:
        fields, token = whox
        values = _whox_values(conn, member, room, fields, token)
        if values:
            conn.numeric(N.RPL_WHOSPCRPL, *values)
        return
    channel = room.name if room is not None else "*"
    conn.numeric(N.RPL_WHOREPLY, channel, member.username, display_host(member.host),
                 conn.server, member.nick, who_flags(conn, member, room),
                 f"0 {member.realname}")


def _shown_room(conn: IRCConnection, user: User, member: User) -> Room | None:
    """A channel to show with a member found by mask: one both are in, if any."""
    for key, room in member.rooms.items():
        if key in user.rooms:
            return room
    return None


@command("WHO")
def who(conn: IRCConnection, user: User, message: Message) -> None:
    mask = message.params[0] if message.params and message.params[0] else "*"
    option = message.params[1] if len(message.params) > 1 else ""
    whox = parse_whox(option)
    opers_only = whox is None and "o" in option
    if mask.startswith("#"):
        try:
            room = conn.hub.find_room(mask)
        except errors.NoSuchRoom:
            room = None
        if room is not None and _visible(room, user):
            for member in list(room.members.values()):
                if member.is_operator or not opers_only:
                    _reply(conn, member, room, whox)
    else:
        pattern = mask_matcher("*" if mask == "0" else mask)
        exact = "*" not in mask and "?" not in mask
        shared = {id(m) for room in user.rooms.values() for m in room.members.values()}
        for member in conn.hub.users():
            if not pattern.fullmatch(member.key) or (opers_only and not member.is_operator):
                continue
            if member.invisible and not exact and id(member) not in shared \
                    and member is not user:
                continue
            _reply(conn, member, _shown_room(conn, user, member) if whox else None, whox)
    conn.numeric(N.RPL_ENDOFWHO, mask, "End of /WHO list")
