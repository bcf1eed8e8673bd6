"""
Queries about channels and people: NAMES, WHOIS, WHOWAS, ISON and
USERHOST (WHO is in L{who}, LIST in L{listing}).
"""

from __future__ import annotations

import time as _time
from typing import TYPE_CHECKING

from ....core import errors
from ....core.hub import User
from .. import numerics as N
from ..render import display_host
from ..wire import Message
from .channels import send_names
from .common import _chunks, _targets, _visible
from . import metadata
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection


@command("NAMES")
def names_(conn: IRCConnection, user: User, message: Message) -> None:
    if not message.params:
        conn.numeric(N.RPL_ENDOFNAMES, "*", "End of /NAMES list")
        return
    # The names in each channel, then one end of the list for them all
    # (named as the client asked), as the modern IRC document shows it.
    for name in _targets(message.params[0]):
        try:
            room = conn.hub.find_room(name)
        except errors.NoSuchRoom:
            room = None
        if room is not None and _visible(room, user):
            send_names(conn, room, end=False)
    conn.numeric(N.RPL_ENDOFNAMES, message.params[0], "End of /NAMES list")


# People

@command("WHOIS", 1)
def whois(conn: IRCConnection, user: User, message: Message) -> None:
    wanted = message.params[-1]
    for nick_ in _targets(wanted)[:1]:
        try:
            target = conn.hub.find_user(nick_)
        except errors.NoSuchNick:
            conn.numeric(N.ERR_NOSUCHNICK, nick_, "No such nick/channel")
            continue
        conn.numeric(N.RPL_WHOISUSER, target.nick, target.username,
                     display_host(target.host), "*", target.realname)
        rooms = [("@" if room.is_operator(target) else "+" if target in room.voiced else "")
                 + room.name for room in target.rooms.values() if _visible(room, user)]
        for chunk in _chunks(rooms, 400):
            conn.numeric(N.RPL_WHOISCHANNELS, target.nick, " ".join(chunk))
        conn.numeric(N.RPL_WHOISSERVER, target.nick, conn.server,
                     conn.factory.settings.description)
        if target.is_operator:
            conn.numeric(N.RPL_WHOISOPERATOR, target.nick, "is an IRC operator")
        if target.bot:
            conn.numeric(N.RPL_WHOISBOT, target.nick, "is a bot")
        if target.away:
            conn.numeric(N.RPL_AWAY, target.nick, target.away)
        if target.account:
            conn.numeric(N.RPL_WHOISACCOUNT, target.nick, target.account, "is logged in as")
        idle = int(conn.clock.seconds() - target.last_spoke)
        conn.numeric(N.RPL_WHOISIDLE, target.nick, str(max(idle, 0)),
                     str(int(target.signed_on)), "seconds idle, signon time")
        metadata.whois(conn, target)
    conn.numeric(N.RPL_ENDOFWHOIS, wanted, "End of /WHOIS list")


@command("WHOWAS", 1)
def whowas(conn: IRCConnection, user: User, message: Message) -> None:
    wanted = message.params[0]
    count = message.params[1] if len(message.params) > 1 else ""
    limit = int(count) if count.isascii() and count.isdigit() and int(count) > 0 else None
    found = conn.hub.whowas(wanted)[:limit]
    if not found:
        conn.numeric(N.ERR_WASNOSUCHNICK, wanted, "There was no such nickname")
    for departed in found:
        conn.numeric(N.RPL_WHOWASUSER, departed.nick, departed.username,
                     display_host(departed.host), "*", departed.realname)
        conn.numeric(N.RPL_WHOISSERVER, departed.nick, conn.server,
                     _time.strftime("%a %b %d %H:%M:%S %Y", _time.gmtime(departed.time)))
    conn.numeric(N.RPL_ENDOFWHOWAS, wanted, "End of WHOWAS")


@command("ISON", 1)
def ison(conn: IRCConnection, user: User, message: Message) -> None:
    online = []
    for nick_ in " ".join(message.params).split():
        try:
            online.append(conn.hub.find_user(nick_).nick)
        except errors.NoSuchNick:
            pass
    conn.numeric(N.RPL_ISON, " ".join(online))


@command("USERHOST", 1)
def userhost(conn: IRCConnection, user: User, message: Message) -> None:
    replies = []
    for nick_ in " ".join(message.params).split()[:5]:
        try:
            target = conn.hub.find_user(nick_)
        except errors.NoSuchNick:
            continue
        oper = "*" if target.is_operator else ""
        away = "-" if target.away else "+"
        replies.append(f"{target.nick}{oper}={away}{target.username}@"
                       f"{display_host(target.host)}")
    conn.numeric(N.RPL_USERHOST, " ".join(replies))
