"""
IRCv3 draft/read-marker: MARKREAD tells the server, and asks it, up to when
the client has read a channel or a conversation.

Wire protocol:
 - C{MARKREAD <target>} asks: the answer is C{MARKREAD <target> timestamp=<t>},
   or C{MARKREAD <target> *} when nothing was marked;
 - C{MARKREAD <target> timestamp=YYYY-MM-DDThh:mm:ss.sssZ} sets it; a marker
   only moves forward, and the answer is the marker kept (so an older time
   gets the newer one back);
 - on joining a channel, a client with the capability gets the channel's
   MARKREAD before the end of the names list (366).
Refusals are standard replies: C{FAIL MARKREAD NEED_MORE_PARAMS :...},
C{FAIL MARKREAD INVALID_PARAMS <target> :...} (a time that is not a
server-time timestamp, C{*} from a client, a target that cannot be a channel
or a nick).  Markers belong to the connection until accounts exist (see
L{chatservice.core.readmarkers}).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ....core import names
from ....core.hub import User
from ....core.readmarkers import mark_read, read_marker
from ..render import parse_server_time
from ..wire import Message
from .common import fail
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection

CAPABILITY = "draft/read-marker"


def _written(milliseconds: int) -> str:
    stamp = datetime.fromtimestamp(milliseconds // 1000, timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{milliseconds % 1000:03d}Z"


def send_marker(conn: IRCConnection, user: User, target: str) -> None:
    """Tell the client its read marker for C{target}."""
    kept = read_marker(user, target)
    conn.line("MARKREAD", target, "*" if kept is None else "timestamp=" + _written(kept))


def _valid_target(target: str) -> bool:
    if target.startswith("#"):
        return not names.room_problem(target)
    return not names.nick_problem(target)


@command("MARKREAD")
def markread(conn: IRCConnection, user: User, message: Message) -> None:
    if not message.params or not message.params[0]:
        fail(conn, "MARKREAD", "NEED_MORE_PARAMS", "Missing parameters")
        return
    target = message.params[0]
    if not _valid_target(target):
        fail(conn, "MARKREAD", "INVALID_PARAMS", target, "Invalid target")
        return
    if len(message.params) == 1:
        send_marker(conn, user, target)
        return
    given = message.params[1]
    when = parse_server_time(given[len("timestamp="):]) if given.startswith(
        "timestamp=") else None
    if when is None:
        fail(conn, "MARKREAD", "INVALID_PARAMS", target, "Invalid timestamp")
        return
    mark_read(user, target, round(when * 1000))
    send_marker(conn, user, target)
