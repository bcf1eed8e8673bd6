"""
IRCv3 draft/channel-rename: RENAME gives a channel a new name.

Wire protocol: C{RENAME <#old> <#new> [:<reason>]}, by one of the channel's
operators (or a server operator).  Members, modes, topic and history move to
the new name and the old name is free.  Members with the capability get
C{:<renamer> RENAME <#old> <#new> :<reason>}; the others see themselves
leave C{#old} (C{PART #old :Channel renamed to #new: <reason>}) and join
C{#new} with its topic and names, so any client follows; line users get a
notice.  Refusals are standard replies: C{FAIL RENAME CHANNEL_NAME_IN_USE
<#old> <#new> :...}, C{FAIL RENAME CANNOT_RENAME <#old> <#new> :...} (an
invalid name), and the usual 403/442/482 numerics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ....core import errors
from ....core.hub import User
from ..wire import Message
from .common import _refusal, fail
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection

CAPABILITY = "draft/channel-rename"


@command("RENAME", 2, nonempty=2)
def rename(conn: IRCConnection, user: User, message: Message) -> None:
    old, new = message.params[0], message.params[1]
    reason = message.params[2] if len(message.params) > 2 else ""
    try:
        event = conn.hub.rename_room(user, old, new, reason)
    except errors.RoomExists:
        fail(conn, "RENAME", "CHANNEL_NAME_IN_USE", old, new,
             "Channel already exists")
        return
    except errors.InvalidRoomName:
        fail(conn, "RENAME", "CANNOT_RENAME", old, new, "Invalid channel name")
        return
    except errors.ChatError as refusal:
        _refusal(conn, refusal, old)
        return
    conn.room_renamed(event)
