"""
IRC commands: a declarative table checked before any handler runs.

Each entry says how many parameters a command needs (and how many of them
may not be empty), whether it may be used before registration, and whether
it needs a server operator; L{run} answers 421, 451, 461 and 481 from the
table, so handlers only do their own work.
"""

from __future__ import annotations

import re
import time as _time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from ... import __version__
from ...core import errors, names
from ...core.events import Kind
from ...core.hub import ROOMS_PER_USER, TOPIC_MAX_LENGTH, Tags, User
from ...core.rooms import ModeChange, Room, RoomMode, mask_matcher
from . import numerics as N
from .render import LETTER_MODES, display_host, mask, mode_string
from .wire import Message

if TYPE_CHECKING:
    from .protocol import IRCConnection

VERSION = f"chatservice-{__version__}"

CAPABILITIES = (
    "away-notify",
    "batch",
    "cap-notify",
    "echo-message",
    "message-tags",
    "multi-prefix",
    "server-time",
    "userhost-in-names",
)

# Offered only when the server keeps history (the hub has a store).
HISTORY_CAPABILITIES = (
    "draft/chathistory",
    "draft/event-playback",
    "soju.im/search",
)


def capabilities(conn: IRCConnection) -> tuple[str, ...]:
    """The capabilities this server offers C{conn}, in name order."""
    if conn.hub.history is None:
        return CAPABILITIES
    return tuple(sorted(CAPABILITIES + HISTORY_CAPABILITIES))


Handler = Callable[["IRCConnection", "User | None", Message], None]


@dataclass(frozen=True)
class Command:
    handler: Handler
    min_params: int = 0
    before_registration: bool = False
    oper_only: bool = False
    # How many of the first parameters may not be empty (461 if one is).
    nonempty: int = 0


COMMANDS: dict[str, Command] = {}


def command(name: str, min_params: int = 0, before_registration: bool = False,
            oper_only: bool = False, nonempty: int = 0):
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(handler, min_params, before_registration, oper_only,
                                 nonempty)
        return handler
    return register


def run(conn: IRCConnection, user: User | None, message: Message) -> None:
    """Check C{message} against the command table, then run its handler."""
    found = COMMANDS.get(message.command)
    if found is None:
        conn.numeric(N.ERR_UNKNOWNCOMMAND, message.command, "Unknown command")
    elif user is None and not found.before_registration:
        conn.numeric(N.ERR_NOTREGISTERED, "You have not registered")
    elif len(message.params) < found.min_params or not all(
            message.params[:found.nonempty]):
        conn.numeric(N.ERR_NEEDMOREPARAMS, message.command, "Not enough parameters")
    elif found.oper_only and not (user and user.is_operator):
        conn.numeric(N.ERR_NOPRIVILEGES, "Permission Denied - You're not an IRC operator")
    else:
        found.handler(conn, user, message)


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


# Registration

@command("CAP", 1, before_registration=True)
def cap(conn: IRCConnection, user: User | None, message: Message) -> None:
    sub = message.params[0].upper()
    if sub == "LS":
        if user is None:
            conn.cap_negotiating = True
        version = message.params[1] if len(message.params) > 1 else ""
        if version.isascii() and version.isdigit() and int(version) >= 302:
            conn.set_caps(conn.caps | {"cap-notify"})
        conn.line("CAP", conn.nick, "LS", " ".join(capabilities(conn)))
    elif sub == "LIST":
        conn.line("CAP", conn.nick, "LIST", " ".join(sorted(conn.caps)))
    elif sub == "REQ":
        if user is None:
            conn.cap_negotiating = True
        wanted = message.params[1] if len(message.params) > 1 else ""
        requested = wanted.split()
        names_only = [name.lstrip("-") for name in requested]
        offered = capabilities(conn)
        if not requested or any(name not in offered for name in names_only):
            conn.line("CAP", conn.nick, "NAK", wanted)
            return
        caps = set(conn.caps)
        for name in requested:
            if name.startswith("-"):
                caps.discard(name[1:])
            else:
                caps.add(name)
        conn.set_caps(caps)
        conn.line("CAP", conn.nick, "ACK", wanted)
    elif sub == "END":
        if user is None:
            conn.cap_negotiating = False
            conn.try_register()
    else:
        conn.numeric("410", message.params[0], "Invalid CAP command")


@command("PASS", 1, before_registration=True)
def pass_(conn: IRCConnection, user: User | None, message: Message) -> None:
    if user is not None:
        conn.numeric(N.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    conn.password_given = message.params[0]


@command("NICK", before_registration=True)
def nick(conn: IRCConnection, user: User | None, message: Message) -> None:
    if not message.params or not message.params[0]:
        conn.numeric(N.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    wanted = message.params[0]
    if user is None:
        problem = names.nick_problem(wanted)
        if problem:
            conn.numeric(N.ERR_ERRONEUSNICKNAME, wanted, "Erroneous nickname")
            return
        try:
            conn.hub.find_user(wanted)
        except errors.NoSuchNick:
            conn.nick = wanted
            conn.try_register()
        else:
            conn.numeric(N.ERR_NICKNAMEINUSE, wanted, "Nickname is already in use")
        return
    old = user.nick
    try:
        event = conn.hub.rename(user, wanted)
    except errors.ErroneousNick:
        conn.numeric(N.ERR_ERRONEUSNICKNAME, wanted, "Erroneous nickname")
        return
    except errors.NickInUse:
        conn.numeric(N.ERR_NICKNAMEINUSE, wanted, "Nickname is already in use")
        return
    if event is not None:
        conn.nick = user.nick
        conn.log.info("{old} is now {new}", old=old, new=user.nick)
        conn.echo(event)


# The user name and the real name may not be empty; nor, for simplicity,
# the two unused parameters between them.
@command("USER", 4, before_registration=True, nonempty=4)
def user_(conn: IRCConnection, user: User | None, message: Message) -> None:
    if user is not None or conn.username is not None:
        conn.numeric(N.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    username = message.params[0]
    # No ident lookup: the name the client gave is shown with a ~, and kept
    # to characters that cannot break a nick!user@host mask.
    safe = "".join(c for c in username if c.isalnum() or c in "-_.")[:10] or "user"
    conn.username = "~" + safe
    conn.realname = message.params[3]
    conn.try_register()


@command("PING", before_registration=True)
def ping(conn: IRCConnection, user: User | None, message: Message) -> None:
    if not message.params:
        conn.numeric(N.ERR_NOORIGIN, "No origin specified")
        return
    conn.line("PONG", conn.server, message.params[0])


@command("PONG", before_registration=True)
def pong(conn: IRCConnection, user: User | None, message: Message) -> None:
    """Any line shows the client is alive; nothing more to do."""


@command("QUIT", before_registration=True)
def quit_(conn: IRCConnection, user: User | None, message: Message) -> None:
    reason = message.params[0] if message.params else ""
    conn.close(f"Quit: {reason}" if reason else "Quit")


# Rooms

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


def send_topic(conn: IRCConnection, room: Room, quiet_if_none: bool = False) -> None:
    if room.topic:
        conn.numeric(N.RPL_TOPIC, room.name, room.topic)
        conn.numeric(N.RPL_TOPICWHOTIME, room.name, room.topic_by, str(int(room.topic_time)))
    elif not quiet_if_none:
        conn.numeric(N.RPL_NOTOPIC, room.name, "No topic is set")


def _visible(room: Room, user: User) -> bool:
    return RoomMode.SECRET not in room.flags or room.is_member(user)


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
        send_names(conn, room)
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


@command("LIST")
def list_(conn: IRCConnection, user: User, message: Message) -> None:
    wanted = {names.fold(n) for n in _targets(message.params[0])} if message.params else None
    conn.numeric(N.RPL_LISTSTART, "Channel", "Users  Name")
    for room in sorted(conn.hub.rooms(), key=lambda r: r.key):
        if wanted is not None and room.key not in wanted:
            continue
        if _visible(room, user):
            conn.numeric(N.RPL_LIST, room.name, str(len(room.members)), room.topic)
    conn.numeric(N.RPL_LISTEND, "End of /LIST")


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


# Messages

def _still_here(conn: IRCConnection, nick: str) -> User | None:
    """
    The user called C{nick}, or C{None}: nobody is, or telling them something
    just dropped them (a full send queue).
    """
    try:
        return conn.hub.find_user(nick)
    except errors.NoSuchNick:
        return None


MAX_KICK_TARGETS = 4

# Targets one PRIVMSG or NOTICE may have (TARGMAX): one line may not fan out
# into hundreds of messages.
MAX_MESSAGE_TARGETS = 4


# A client tag's name: "+", an optional vendor (a host name) and "/", then
# letters, digits and hyphens (IRCv3 message-tags).
_CLIENT_TAG = re.compile(r"\+(?:[A-Za-z0-9.-]+/)?[A-Za-z0-9-]+", re.ASCII)


def _client_tags(message: Message) -> Tags:
    """The client-only tags (C{+name}) of C{message}, to relay; others are dropped."""
    return tuple((name, value) for name, value in message.tags.items()
                 if _CLIENT_TAG.fullmatch(name))


def _deliver(conn: IRCConnection, user: User, message: Message, kind: Kind) -> None:
    notice = kind is Kind.NOTICE
    if not message.params or not message.params[0]:
        if not notice:
            conn.numeric(N.ERR_NORECIPIENT, f"No recipient given ({message.command})")
        return
    if len(message.params) < 2 or not message.params[1]:
        if not notice:
            conn.numeric(N.ERR_NOTEXTTOSEND, "No text to send")
        return
    text = message.params[1]
    if kind is Kind.SAY and text.startswith("\x01ACTION"):
        kind = Kind.ACTION
        text = text[len("\x01ACTION"):].lstrip(" ").rstrip("\x01") or " "
    targets = _targets(message.params[0])
    if len(targets) > MAX_MESSAGE_TARGETS:
        if not notice:
            conn.numeric(N.ERR_TOOMANYTARGETS, targets[MAX_MESSAGE_TARGETS], "Too many "
                         f"recipients; only the first {MAX_MESSAGE_TARGETS} were sent to")
        del targets[MAX_MESSAGE_TARGETS:]
    tags = _client_tags(message)
    for target in targets:
        try:
            if target.startswith("#"):
                event = conn.hub.say(user, target, text, kind, tags)
            else:
                event = conn.hub.tell(user, target, text, kind, tags)
        except errors.ChatError as refusal:
            if not notice:
                _refusal(conn, refusal, target)
            continue
        # A message to oneself arrives like any other; with echo-message,
        # every message comes back.
        if "echo-message" in conn.caps or (
                not target.startswith("#") and names.fold(event.target) == user.key):
            conn.echo(event)
        if not notice and not target.startswith("#"):
            recipient = _still_here(conn, event.target)
            if recipient is not None and recipient.away:
                conn.numeric(N.RPL_AWAY, recipient.nick, recipient.away)


@command("PRIVMSG")
def privmsg(conn: IRCConnection, user: User, message: Message) -> None:
    _deliver(conn, user, message, Kind.SAY)


@command("NOTICE")
def notice(conn: IRCConnection, user: User, message: Message) -> None:
    _deliver(conn, user, message, Kind.NOTICE)


@command("TAGMSG", 1)
def tagmsg(conn: IRCConnection, user: User, message: Message) -> None:
    """
    Client-only tags on their own (typing notifications, reactions) go to
    the targets' clients that take message tags; other tags are dropped.
    """
    tags = _client_tags(message)
    for target in _targets(message.params[0])[:MAX_MESSAGE_TARGETS]:
        try:
            event = conn.hub.signal(user, target, tags)
        except errors.ChatError as refusal:
            _refusal(conn, refusal, target)
            continue
        if "echo-message" in conn.caps or (
                not target.startswith("#") and names.fold(event.target) == user.key):
            conn.echo(event)


# People

def _who_flags(conn: IRCConnection, user: User, room: Room | None) -> str:
    flags = "G" if user.away else "H"
    if user.is_operator:
        flags += "*"
    if room is not None:
        if room.is_operator(user):
            flags += "@"
        # With multi-prefix, every prefix the member has, highest first.
        if user in room.voiced and (not flags.endswith("@") or "multi-prefix" in conn.caps):
            flags += "+"
    return flags


def _who_reply(conn: IRCConnection, member: User, room: Room | None) -> None:
    channel = room.name if room is not None else "*"
    conn.numeric(N.RPL_WHOREPLY, channel, member.username, display_host(member.host),
                 conn.server, member.nick, _who_flags(conn, member, room),
                 f"0 {member.realname}")


@command("WHO")
def who(conn: IRCConnection, user: User, message: Message) -> None:
    mask = message.params[0] if message.params else "*"
    if mask.startswith("#"):
        try:
            room = conn.hub.find_room(mask)
        except errors.NoSuchRoom:
            room = None
        if room is not None and _visible(room, user):
            for member in room.members.values():
                _who_reply(conn, member, room)
    else:
        pattern = mask_matcher(mask)
        exact = "*" not in mask and "?" not in mask
        shared = {id(m) for room in user.rooms.values() for m in room.members.values()}
        for member in conn.hub.users():
            if not pattern.fullmatch(member.key):
                continue
            if member.invisible and not exact and id(member) not in shared \
                    and member is not user:
                continue
            _who_reply(conn, member, None)
    conn.numeric(N.RPL_ENDOFWHO, mask, "End of /WHO list")


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
        if target.away:
            conn.numeric(N.RPL_AWAY, target.nick, target.away)
        idle = int(conn.clock.seconds() - target.last_spoke)
        conn.numeric(N.RPL_WHOISIDLE, target.nick, str(max(idle, 0)),
                     str(int(target.signed_on)), "seconds idle, signon time")
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


@command("AWAY")
def away(conn: IRCConnection, user: User, message: Message) -> None:
    conn.hub.set_away(user, message.params[0] if message.params else "")
    if user.away:
        conn.numeric(N.RPL_NOWAWAY, "You have been marked as being away")
    else:
        conn.numeric(N.RPL_UNAWAY, "You are no longer marked as being away")


# Modes

# Which channel modes take an argument when set and when unset (CHANMODES).
_ARGUMENT_WHEN = {
    RoomMode.BAN: (True, True),
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
        else:
            unknown = True
    if unknown:
        conn.numeric(N.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if changed:
        conn.line("MODE", user.nick, "".join(changed), source=mask(user.source))


def _user_modes(user: User) -> str:
    return "+" + ("i" if user.invisible else "") + ("o" if user.is_operator else "")


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
    changes, unknown, list_bans = _parse_modes(params)
    for letter in unknown:
        conn.numeric(N.ERR_UNKNOWNMODE, letter, "is unknown mode char to me")
    if list_bans:
        for ban in room.bans.values():
            conn.numeric(N.RPL_BANLIST, room.name, ban.mask, ban.set_by, str(int(ban.time)))
        conn.numeric(N.RPL_ENDOFBANLIST, room.name, "End of channel ban list")
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


def _parse_modes(params: list[str]) -> tuple[list[ModeChange], list[str], bool]:
    """
    Parse C{+o-v nick nick}-style mode parameters into changes.  Return the
    changes, unknown letters, and whether the ban list was asked for.
    """
    changes: list[ModeChange] = []
    unknown: list[str] = []
    list_bans = False
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
                if found is RoomMode.BAN:
                    list_bans = True
                continue
            changes.append(ModeChange(adding, found, argument))
        else:
            changes.append(ModeChange(adding, found))
    return changes, unknown, list_bans


# Server information

def send_isupport(conn: IRCConnection) -> None:
    tokens = [
        f"AWAYLEN={300}",
        "CASEMAPPING=rfc1459",
        f"CHANLIMIT=#:{ROOMS_PER_USER}",
        "CHANMODES=b,k,l,imnst",
        f"CHANNELLEN={names.ROOM_MAX_LENGTH}",
        "CHANTYPES=#",
        "KICKLEN=300",
        "MODES=4",
        f"NETWORK={conn.hub.name}",
        f"NICKLEN={names.NICK_MAX_LENGTH}",
        "PREFIX=(ov)@+",
        f"TARGMAX=JOIN:,KICK:{MAX_KICK_TARGETS},LIST:,NAMES:,NOTICE:{MAX_MESSAGE_TARGETS},PART:,"
        f"PRIVMSG:{MAX_MESSAGE_TARGETS},WHOIS:1",
        f"TOPICLEN={TOPIC_MAX_LENGTH}",
        "USERLEN=11",
    ]
    history = conn.hub.history
    if history is not None:
        tokens += [f"CHATHISTORY={history.max_limit}", "MSGREFTYPES=timestamp,msgid"]
        tokens.sort()
    for start in range(0, len(tokens), 13):
        conn.numeric(N.RPL_ISUPPORT, *tokens[start:start + 13],
                     "are supported by this server")


def send_lusers(conn: IRCConnection) -> None:
    hub = conn.hub
    invisible = hub.invisible_count
    opers = hub.operator_count
    total = hub.user_count
    peak = max(hub.peak_user_count, total)
    conn.numeric(N.RPL_LUSERCLIENT,
                 f"There are {total - invisible} users and {invisible} invisible on 1 servers")
    conn.numeric(N.RPL_LUSEROP, str(opers), "operator(s) online")
    conn.numeric(N.RPL_LUSERCHANNELS, str(len(hub.rooms())), "channels formed")
    conn.numeric(N.RPL_LUSERME, f"I have {total} clients and 0 servers")
    conn.numeric(N.RPL_LOCALUSERS, str(total), str(peak),
                 f"Current local users {total}, max {peak}")
    conn.numeric(N.RPL_GLOBALUSERS, str(total), str(peak),
                 f"Current global users {total}, max {peak}")


def send_motd(conn: IRCConnection) -> None:
    motd = conn.factory.settings.motd
    if not motd:
        conn.numeric(N.ERR_NOMOTD, "MOTD File is missing")
        return
    conn.numeric(N.RPL_MOTDSTART, f"- {conn.server} Message of the day - ")
    for text_line in motd:
        conn.numeric(N.RPL_MOTD, f"- {text_line}")
    conn.numeric(N.RPL_ENDOFMOTD, "End of /MOTD command.")


@command("MOTD")
def motd(conn: IRCConnection, user: User, message: Message) -> None:
    send_motd(conn)


@command("LUSERS")
def lusers(conn: IRCConnection, user: User, message: Message) -> None:
    send_lusers(conn)


@command("VERSION")
def version(conn: IRCConnection, user: User, message: Message) -> None:
    conn.numeric(N.RPL_VERSION, VERSION, conn.server, "A multi-protocol chat server")
    send_isupport(conn)


@command("TIME")
def time(conn: IRCConnection, user: User, message: Message) -> None:
    now = conn.clock.seconds()
    conn.numeric(N.RPL_TIME, conn.server,
                 _time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", _time.gmtime(now)))


@command("INFO")
def info(conn: IRCConnection, user: User, message: Message) -> None:
    for text_line in (f"{VERSION}: a multi-protocol chat server built on Twisted.",
                      "Line chat, IRC and (soon) the web share one set of rooms."):
        conn.numeric(N.RPL_INFO, text_line)
    conn.numeric(N.RPL_ENDOFINFO, "End of /INFO list")


@command("HELP")
def help_(conn: IRCConnection, user: User, message: Message) -> None:
    subject = message.params[0].upper() if message.params else ""
    if subject and subject not in COMMANDS:
        conn.numeric(N.ERR_HELPNOTFOUND, subject, "No help available on this topic")
        return
    key = subject or "*"
    if subject:
        found = COMMANDS[subject]
        text_lines = [f"{subject} needs at least {found.min_params} parameter(s)"
                      + ("; server operators only." if found.oper_only else ".")]
    else:
        text_lines = ["Commands:"] + [" ".join(chunk) for chunk in
                                      _chunks(sorted(COMMANDS), 300)]
    conn.numeric(N.RPL_HELPSTART, key, text_lines[0])
    for text_line in text_lines[1:]:
        conn.numeric(N.RPL_HELPTXT, key, text_line)
    conn.numeric(N.RPL_ENDOFHELP, key, "End of /HELP")


# Server operators

@command("OPER", 2)
def oper(conn: IRCConnection, user: User, message: Message) -> None:
    if not conn.hub.operators:
        conn.numeric(N.ERR_NOOPERHOST, "No O-lines for your host")
        return
    try:
        conn.hub.become_operator(user, message.params[0], message.params[1])
    except errors.PasswordMismatch:
        conn.log.info("{nick} failed to become an operator", nick=user.nick)
        conn.numeric(N.ERR_PASSWDMISMATCH, "Password incorrect")
        return
    conn.log.info("{nick} is now a server operator", nick=user.nick)
    conn.numeric(N.RPL_YOUREOPER, "You are now an IRC operator")
    conn.line("MODE", user.nick, "+o", source=mask(user.source))


@command("KILL", 2, oper_only=True)
def kill(conn: IRCConnection, user: User, message: Message) -> None:
    try:
        target, _ = conn.hub.kill(user, message.params[0], message.params[1])
    except errors.ChatError as refusal:
        _refusal(conn, refusal, message.params[0])
        return
    conn.log.info("{oper} killed {nick}", oper=user.nick, nick=target.nick)
    client = target.client
    closer = getattr(client, "close", None)
    if closer is not None:
        closer(f"Killed by {user.nick} ({message.params[1]})")
