"""
Helpers the command modules share: the numeric for each of the hub's
refusals, comma-separated target lists, replies cut to fit a line, which
channels a user may see, and whether a user is still connected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from ....core import errors
from ....core.hub import User
from ....core.rooms import Room, RoomMode
from .. import numerics as N

if TYPE_CHECKING:
    from ..protocol import IRCConnection


# Error replies for the hub's refusals.

# The numeric for each of the hub's refusals, its text (None: the refusal's
# own sentence), and whether it names the nick or channel concerned.
_REFUSALS: dict[type[errors.ChatError], tuple[str, str | None, bool]] = {
    errors.NoSuchNick: (N.ERR_NOSUCHNICK, "No such nick/channel", True),
    errors.NoSuchRoom: (N.ERR_NOSUCHCHANNEL, "No such channel", True),
    errors.InvalidRoomName: (N.ERR_NOSUCHCHANNEL, "No such channel", True),
    errors.NotInRoom: (N.ERR_NOTONCHANNEL, "You're not on that channel", True),
    errors.NotOperator: (N.ERR_CHANOPRIVSNEEDED, "You're not channel operator", True),
    errors.CannotSend: (N.ERR_CANNOTSENDTOCHAN, "Cannot send to channel", True),
    errors.InviteOnly: (N.ERR_INVITEONLYCHAN, "Cannot join channel (+i)", True),
    errors.BadRoomPassword: (N.ERR_BADCHANNELKEY, "Cannot join channel (+k)", True),
    errors.RoomFull: (N.ERR_CHANNELISFULL, "Cannot join channel (+l)", True),
    errors.Banned: (N.ERR_BANNEDFROMCHAN, "Cannot join channel (+b)", True),
    errors.TooManyRooms: (N.ERR_TOOMANYCHANNELS, "You have joined too many channels", True),
    errors.EmptyMessage: (N.ERR_NOTEXTTOSEND, "No text to send", False),
    errors.ErroneousNick: (N.ERR_ERRONEUSNICKNAME, None, True),
    errors.NickInUse: (N.ERR_NICKNAMEINUSE, "Nickname is already in use", True),
    errors.NoPrivileges: (N.ERR_NOPRIVILEGES,
                          "Permission Denied - You're not an IRC operator", False),
    errors.PasswordMismatch: (N.ERR_PASSWDMISMATCH, "Password incorrect", False),
}


def _refusal(conn: IRCConnection, refusal: errors.ChatError, target: str) -> None:
    """Answer one of the hub's refusals with its numeric."""
    numeric, text, names_target = _REFUSALS.get(
        type(refusal), (N.ERR_UNKNOWNERROR, None, True))
    text = str(refusal) if text is None else text
    if names_target:
        conn.numeric(numeric, target, text)
    else:
        conn.numeric(numeric, text)


def _targets(param: str) -> list[str]:
    return [target for target in param.split(",") if target]


def _chunks(words: list[str], budget: int) -> Iterable[list[str]]:
    """Group C{words} so that each group, space-separated, fits C{budget} bytes."""
    chunk: list[str] = []
    size = 0
    for word in words:
        length = len(word.encode("utf-8")) + (1 if chunk else 0)
        if chunk and size + length > budget:
            yield chunk
            chunk, size, length = [], 0, len(word.encode("utf-8"))
        chunk.append(word)
        size += length
    if chunk:
        yield chunk


def _visible(room: Room, user: User) -> bool:
    return RoomMode.SECRET not in room.flags or room.is_member(user)


def _still_here(conn: IRCConnection, nick: str) -> User | None:
    """
    The user called C{nick}, or C{None}: nobody is, or telling them something
    just dropped them (a full send queue).
    """
    try:
        return conn.hub.find_user(nick)
    except errors.NoSuchNick:
        return None


# Standard replies (IRCv3): FAIL <command> <code> [<context>...] :<description>

# Parameters repeated back in a standard reply are cut to this many characters.
_ECHO_MAX = 64


def fail(conn: IRCConnection, command_name: str, code: str, *params: str) -> None:
    """Send C{FAIL command code context... :description} (the last of C{params})."""
    *context, description = params
    conn.line("FAIL", command_name, code, *(param[:_ECHO_MAX] or "*" for param in context),
              description)
