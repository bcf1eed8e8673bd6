"""
Channels: JOIN, PART, TOPIC, KICK, INVITE and MODE (channel modes, and a
user's own modes), with the NAMES and topic replies that JOIN sends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ....core import errors, names
from ....core.hub import TOPIC_MAX_LENGTH, User
from ....core.rooms import ModeChange, Room, RoomMode
from .. import numerics as N
from ..render import LETTER_MODES, display_host, mask, mode_string
from ..wire import Message
from . import metadata, readmarker
from .common import _chunks, _refusal, _still_here, _targets
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection


def _names_entry(conn: IRCConnection, room: Room, member: User) -> str:
    prefixes = ""
    if room.is_operator(member):
        prefixes += "@"
    if member in room.voiced and (not prefixes or "multi-prefix" in conn.caps):
        prefixes += "+"
    if "userhost-in-names" in conn.caps:
        return f"{prefixes}{member.nick}!{member.username}@{display_host(member.host)}"
    return prefixes + member.nick


def send_names(conn: IRCConnection, room: Room, end: bool = True) -> None:
    """The names in C{room}, then (if C{end}) the end of the list."""
    symbol = "@" if RoomMode.SECRET in room.flags else "="
    head = len(f":{conn.server} {N.RPL_NAMREPLY} {conn.nick} {symbol} {room.name} :"
               .encode("utf-8"))
    entries = [_names_entry(conn, room, member) for member in room.members.values()]
    for chunk in _chunks(entries, 510 - head):
        conn.numeric(N.RPL_NAMREPLY, symbol, room.name, " ".join(chunk))
    if end:
        conn.numeric(N.RPL_ENDOFNAMES, room.name, "End of /NAMES list")


def send_topic(conn: IRCConnection, room: Room, quiet_if_none: bool = False) -> None:
    if room.topic:
        conn.numeric(N.RPL_TOPIC, room.name, room.topic)
        conn.numeric(N.RPL_TOPICWHOTIME, room.name, room.topic_by, str(int(room.topic_time)))
    elif not quiet_if_none:
        conn.numeric(N.RPL_NOTOPIC, room.name, "No topic is set")


MAX_KICK_TARGETS = 4


@command("JOIN", 1)
def join(conn: IRCConnection, user: User, message: Message) -> None:
    if message.params[0] == "0":
        for room in list(user.rooms.values()):
            conn.left(conn.hub.part(user, room.name, ""))
        return
    passwords = message.params[1].split(",") if len(message.params) > 1 else []
    for index, name in enumerate(_targets(message.params[0])):
        password = passwords[index] if index < len(passwords) else None
        if names.room_problem(name):
            conn.numeric(N.ERR_NOSUCHCHANNEL, name, "No such channel")
            continue
        try:
            room, joined = conn.hub.join(user, name, password)
        except errors.ChatError as refusal:
            _refusal(conn, refusal, name)
            continue
        if joined is None:
            continue
        conn.echo(joined)
        send_topic(conn, room, quiet_if_none=True)
        send_names(conn, room, end=False)
        if readmarker.CAPABILITY in conn.caps:
            # draft/read-marker: the marker comes before the end of the names.
            readmarker.send_marker(conn, user, room.name)
        conn.numeric(N.RPL_ENDOFNAMES, room.name, "End of /NAMES list")
        metadata.on_join(conn, user, room)
        conn.joined(user, room, joined)


@command("PART", 1)
def part(conn: IRCConnection, user: User, message: Message) -> None:
    reason = message.params[1] if len(message.params) > 1 else ""
    for name in _targets(message.params[0]):
        try:
            conn.left(conn.hub.part(user, name, reason))
        except errors.ChatError as refusal:
            _refusal(conn, refusal, name)


@command("TOPIC", 1)
def topic(conn: IRCConnection, user: User, message: Message) -> None:
    name = message.params[0]
    try:
        room = conn.hub.find_room(name)
        if len(message.params) == 1:
            if not room.is_member(user) and RoomMode.SECRET in room.flags:
                raise errors.NotInRoom(name)
            send_topic(conn, room)
            return
        # Longer topics are cut to TOPICLEN, as IRC servers do.
        conn.echo(conn.hub.set_topic(user, name, message.params[1][:TOPIC_MAX_LENGTH]))
    except errors.ChatError as refusal:
        _refusal(conn, refusal, name)


@command("KICK", 2)
def kick(conn: IRCConnection, user: User, message: Message) -> None:
    """
    C{KICK #chan nick,nick} kicks each nick from the one channel;
    C{KICK #a,#b nick,nick} (RFC 2812) kicks each nick from the channel
    in the same place.
    """
    rooms = _targets(message.params[0])
    targets = _targets(message.params[1])[:MAX_KICK_TARGETS]
    reason = message.params[2] if len(message.params) > 2 else ""
    if len(rooms) == 1:
        rooms = rooms * len(targets)
    elif len(rooms) != len(_targets(message.params[1])):
        conn.numeric(N.ERR_NEEDMOREPARAMS, "KICK", "Not enough parameters")
        return
    refused: set[str] = set()
    for room_name, target in zip(rooms, targets):
        if names.fold(room_name) in refused:
            continue
        try:
            conn.echo(conn.hub.kick(user, room_name, target, reason))
        except errors.TargetNotInRoom:
            conn.numeric(N.ERR_USERNOTINCHANNEL, target, room_name,
                         "They aren't on that channel")
        except errors.NoSuchNick:
            conn.numeric(N.ERR_NOSUCHNICK, target, "No such nick/channel")
        except errors.ChatError as refusal:
            # Refused for the channel itself (no such channel, not its
            # operator): said once per channel.
            _refusal(conn, refusal, room_name)
            refused.add(names.fold(room_name))


@command("INVITE")
def invite(conn: IRCConnection, user: User, message: Message) -> None:
    if not message.params:
        # The channels the client is invited to and has not joined yet.
        for room in sorted(conn.hub.rooms(), key=lambda r: r.key):
            if user in room.invited:
                conn.numeric(N.RPL_INVITELIST, room.name)
        conn.numeric(N.RPL_ENDOFINVITELIST, "End of /INVITE list")
        return
    if len(message.params) < 2:
        conn.numeric(N.ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
        return
    target, room_name = message.params[0], message.params[1]
    try:
        event = conn.hub.invite(user, target, room_name)
    except errors.AlreadyInRoom:
        conn.numeric(N.ERR_USERONCHANNEL, target, room_name, "is already on channel")
    except errors.NoSuchNick:
        conn.numeric(N.ERR_NOSUCHNICK, target, "No such nick/channel")
    except errors.ChatError as refusal:
        _refusal(conn, refusal, room_name)
    else:
        conn.numeric(N.RPL_INVITING, event.target, event.room)
        invited = _still_here(conn, event.target)
        if invited is not None and invited.away:
            conn.numeric(N.RPL_AWAY, invited.nick, invited.away)


# Modes

# Which channel modes take an argument when set and when unset (CHANMODES).
_ARGUMENT_WHEN = {
    RoomMode.BAN: (True, True),
    RoomMode.INVITE_EXCEPTION: (True, True),
    RoomMode.BAN_EXCEPTION: (True, True),
    RoomMode.KEY: (True, True),
    RoomMode.LIMIT: (True, False),
    RoomMode.OPERATOR: (True, True),
    RoomMode.VOICE: (True, True),
}


@command("MODE", 1)
def mode(conn: IRCConnection, user: User, message: Message) -> None:
    target = message.params[0]
    if target.startswith("#"):
        _room_mode(conn, user, target, message.params[1:])
    else:
        _user_mode(conn, user, target, message.params[1:])


def _user_mode(conn: IRCConnection, user: User, target: str, params: list[str]) -> None:
    try:
        found = conn.hub.find_user(target)
    except errors.NoSuchNick:
        conn.numeric(N.ERR_NOSUCHNICK, target, "No such nick/channel")
        return
    if found is not user:
        conn.numeric(N.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return
    if not params:
        conn.numeric(N.RPL_UMODEIS, _user_modes(user))
        return
    adding, changed, unknown = True, [], False
    for letter in params[0]:
        if letter in "+-":
            adding = letter == "+"
        elif letter == "i":
            if user.invisible != adding:
                conn.hub.set_invisible(user, adding)
                changed.append(("+" if adding else "-") + "i")
        elif letter == "o":
            if not adding and user.is_operator:
                conn.hub.drop_operator(user)
                changed.append("-o")
        elif letter in "Bw":
            flag, setter = ((user.bot, conn.hub.set_bot) if letter == "B"
                            else (user.wallops, conn.hub.set_wallops))
            if flag != adding:
                setter(user, adding)
                changed.append(("+" if adding else "-") + letter)
        else:
            unknown = True
    if unknown:
        conn.numeric(N.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if changed:
        conn.line("MODE", user.nick, "".join(changed), source=mask(user.source))


def _user_modes(user: User) -> str:
    return ("+" + ("B" if user.bot else "") + ("i" if user.invisible else "")
            + ("o" if user.is_operator else "") + ("w" if user.wallops else ""))


def _room_mode(conn: IRCConnection, user: User, name: str, params: list[str]) -> None:
    try:
        room = conn.hub.find_room(name)
    except errors.NoSuchRoom:
        conn.numeric(N.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if not params:
        conn.numeric(N.RPL_CHANNELMODEIS, room.name, *_room_modes(room, room.is_member(user)))
        conn.numeric(N.RPL_CREATIONTIME, room.name, str(int(room.created)))
        return
    changes, unknown, lists = _parse_modes(params)
    for letter in unknown:
        conn.numeric(N.ERR_UNKNOWNMODE, letter, "is unknown mode char to me")
    for wanted in lists:
        entries, code, end, text = _LISTS[wanted]
        for entry in getattr(room, entries).values():
            conn.numeric(code, room.name, entry.mask, entry.set_by, str(int(entry.time)))
        conn.numeric(end, room.name, text)
    if not changes:
        return
    try:
        event, problems = conn.hub.change_modes(user, room.name, changes)
    except errors.ChatError as refusal:
        _refusal(conn, refusal, room.name)
        return
    for problem in problems:
        if isinstance(problem, errors.TargetNotInRoom):
            conn.numeric(N.ERR_USERNOTINCHANNEL, problem.subject, room.name,
                         "They aren't on that channel")
        elif isinstance(problem, errors.NoSuchNick):
            conn.numeric(N.ERR_NOSUCHNICK, problem.subject or "*", "No such nick/channel")
        else:
            _refusal(conn, problem, room.name)
    if event is not None:
        conn.echo(event)


def _room_modes(room: Room, member: bool) -> list[str]:
    change_list = [ModeChange(True, flag) for flag in sorted(room.flags, key=lambda f: f.value)]
    if room.password is not None:
        change_list.append(ModeChange(True, RoomMode.KEY, room.password if member else "*"))
    if room.limit is not None:
        change_list.append(ModeChange(True, RoomMode.LIMIT, str(room.limit)))
    if not change_list:
        return ["+"]
    return mode_string(change_list)


# The list modes a client may ask to see: the room's attribute holding them,
# the numeric for each entry, the numeric ending the list and its text.
_LISTS = {
    RoomMode.BAN: ("bans", N.RPL_BANLIST, N.RPL_ENDOFBANLIST, "End of channel ban list"),
    RoomMode.INVITE_EXCEPTION: ("exceptions", N.RPL_INVEXLIST, N.RPL_ENDOFINVEXLIST,
                                "End of Channel Invite Exception List"),
    RoomMode.BAN_EXCEPTION: ("ban_exceptions", N.RPL_EXCEPTLIST, N.RPL_ENDOFEXCEPTLIST,
                             "End of Channel Exception List"),
}


def _parse_modes(params: list[str]) -> tuple[list[ModeChange], list[str], list[RoomMode]]:
    """
    Parse C{+o-v nick nick}-style mode parameters into changes.  Return the
    changes, unknown letters, and the lists (bans, exceptions) asked for.
    """
    changes: list[ModeChange] = []
    unknown: list[str] = []
    lists: list[RoomMode] = []
    arguments = iter(params[1:])
    adding = True
    for letter in params[0]:
        if letter in "+-":
            adding = letter == "+"
            continue
        found = LETTER_MODES.get(letter)
        if found is None:
            unknown.append(letter)
            continue
        when_set, when_unset = _ARGUMENT_WHEN.get(found, (False, False))
        if adding and when_set or not adding and when_unset:
            argument = next(arguments, None)
            if argument is None:
                if found in _LISTS and found not in lists:
                    lists.append(found)
                continue
            changes.append(ModeChange(adding, found, argument))
        else:
            changes.append(ModeChange(adding, found))
    return changes, unknown, lists
