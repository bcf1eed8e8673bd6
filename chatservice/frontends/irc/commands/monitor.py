"""
MONITOR (IRCv3): be told when nicknames come online or go offline.

 - C{MONITOR + nick,nick}: watch them; 730 lists those online now (as
   C{nick!user@host}), 731 those offline; past the limit (ISUPPORT
   C{MONITOR=}), 734 lists the ones refused.  A target that is not a valid
   nickname (a mask) gets 432 and is not watched.
 - C{MONITOR - nick,nick}: stop watching them; no reply.
 - C{MONITOR C}: stop watching everything; no reply.
 - C{MONITOR L}: 732 with the watched nicknames, then 733.
 - C{MONITOR S}: 730 and 731 for every watched nickname.

Later, 730 or 731 arrives whenever a watched nickname signs on or off or is
taken or given up in a nick change, on any front end; with extended-monitor,
also the watched person's AWAY (with away-notify) and SETNAME (with setname).
The watchlist itself is the hub's (L{chatservice.core.monitor}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ....core import errors, names
from ....core.hub import User
from .. import numerics as N
from ..render import mask
from ..wire import Message
from .common import _chunks, _targets
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection


def _status(conn: IRCConnection, nicks: list[str]) -> None:
    """730 for those of C{nicks} online, 731 for the others."""
    online, offline = [], []
    for nick in nicks:
        try:
            online.append(mask(conn.hub.find_user(nick).source))
        except errors.NoSuchNick:
            offline.append(nick)
    for chunk in _chunks(online, 400):
        conn.numeric(N.RPL_MONONLINE, ",".join(chunk))
    for chunk in _chunks(offline, 400):
        conn.numeric(N.RPL_MONOFFLINE, ",".join(chunk))


@command("MONITOR", 1)
def monitor(conn: IRCConnection, user: User, message: Message) -> None:
    watchlist = conn.hub.watchlist
    sub = message.params[0]
    targets = _targets(message.params[1]) if len(message.params) > 1 else []
    if sub == "+":
        valid = []
        for target in targets:
            if names.nick_problem(target):
                conn.numeric(N.ERR_ERRONEUSNICKNAME, target, "Erroneous nickname")
            else:
                valid.append(target)
        added, refused = watchlist.add(user, valid)
        _status(conn, added)
        if refused:
            conn.numeric(N.ERR_MONLISTFULL, str(watchlist.limit), ",".join(refused),
                         "Monitor list is full.")
    elif sub == "-":
        watchlist.remove(user, targets)
    elif sub.upper() == "C":
        watchlist.clear(user)
    elif sub.upper() == "L":
        for chunk in _chunks(watchlist.watching(user), 400):
            conn.numeric(N.RPL_MONLIST, ",".join(chunk))
        conn.numeric(N.RPL_ENDOFMONLIST, "End of MONITOR list")
    elif sub.upper() == "S":
        _status(conn, watchlist.watching(user))
    else:
        conn.numeric(N.ERR_UNKNOWNCOMMAND, "MONITOR", f"Unknown MONITOR subcommand {sub}")
