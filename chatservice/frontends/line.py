"""
The line front end: chat for netcat, telnet and TLS clients such as
``openssl s_client``.

Wire protocol
=============
Lines of UTF-8 text.  The client ends lines with ``\\n`` or ``\\r\\n``; the
server always sends ``\\r\\n``.  Invalid UTF-8 is replaced, line by line;
telnet negotiation (IAC sequences) is dropped; control characters and bidi
overrides never pass through.

1. On connecting, the server greets the client and asks for a nickname.  The
   client answers with one line: the nickname.  A taken or invalid nickname
   gets a reason and another prompt.
2. Once signed in, a line is said to the client's current room (``#lobby``
   at first), unless it is a command::

       /join #room   /part [#room] [reason]   /rooms   /who [#room]
       /topic [text] /msg NICK text   /me action   /nick NEW   /help
       /quit [reason]                 //text says "/text"

Everything the server itself says starts with ``*** ``.  What people say
always starts with where it was said and who said it::

       [#lobby] <alice> hello            a message to a room
       [#lobby] * alice waves            an action (/me)
       [private] <alice> psst            a private message to you
       [to bob] <alice> psst             your own private message, confirmed
       *** bob joined #lobby             the server speaking

so no one can make a line look as if it came from the server or from somebody
else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable


from ..core import errors, names, text
from ..core.events import (
    Event,
    Invited,
    Joined,
    Kicked,
    Kind,
    Message,
    ModeChanged,
    NickChanged,
    Parted,
    PrivateMessage,
    Quit,
    TopicChanged,
)
from ..core.hub import Room, User
from ..core.rooms import ModeChange, RoomMode
from .connection import GuardedFactory, GuardedLineReceiver
from .session import Session, SessionMachine
from .telnet import TelnetFilter

SERVER = "*** "

_HTTP_REQUEST = re.compile(rb"[A-Z]{3,10} \S+ HTTP/\d", re.ASCII)
_IRC_REGISTRATION = re.compile(rb"(CAP|NICK|USER|PASS) ", re.ASCII)
_TLS_HANDSHAKE = b"\x16\x03"

_HTTP_HINT = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\n"
    b"This is a chat server, not a web server: connect with nc or telnet.\r\n"
)
_TLS_HINT = (
    b"*** This port speaks plain text, not TLS: connect with nc or telnet, "
    b"or use the server's TLS port.\r\n"
)
_IRC_HINT = (
    b"*** This port speaks plain line chat, not IRC: connect with nc or telnet, "
    b"or use the server's IRC port.\r\n"
)


def encode(line: str) -> bytes:
    return line.encode("utf-8") + b"\r\n"


def _said(where: str, nick: str, message: str, kind: Kind) -> str:
    message = text.strip_formatting(message)
    if kind is Kind.ACTION:
        return f"[{where}] * {nick} {message}"
    if kind is Kind.NOTICE:
        return f"[{where}] -{nick}- {message}"
    return f"[{where}] <{nick}> {message}"


def _with_reason(line: str, reason: str) -> str:
    reason = text.strip_formatting(reason)
    return f"{line} ({reason})" if reason else line


_MODE_WORDS = {
    (True, RoomMode.TOPIC_LOCKED): "locked the topic",
    (False, RoomMode.TOPIC_LOCKED): "unlocked the topic",
    (True, RoomMode.NO_OUTSIDE): "closed the room to outside messages",
    (False, RoomMode.NO_OUTSIDE): "opened the room to outside messages",
    (True, RoomMode.MODERATED): "moderated the room",
    (False, RoomMode.MODERATED): "unmoderated the room",
    (True, RoomMode.INVITE_ONLY): "made the room invite-only",
    (False, RoomMode.INVITE_ONLY): "opened the room to everyone",
    (True, RoomMode.SECRET): "made the room secret",
    (False, RoomMode.SECRET): "made the room public",
    (True, RoomMode.KEY): "set a password",
    (False, RoomMode.KEY): "removed the password",
    (True, RoomMode.LIMIT): "limited the room to {} members",
    (False, RoomMode.LIMIT): "removed the member limit",
    (True, RoomMode.BAN): "banned {}",
    (False, RoomMode.BAN): "unbanned {}",
    (True, RoomMode.OPERATOR): "made {} an operator",
    (False, RoomMode.OPERATOR): "took operator status from {}",
    (True, RoomMode.VOICE): "gave {} a voice",
    (False, RoomMode.VOICE): "took the voice from {}",
}


def _describe(change: ModeChange) -> str:
    words = _MODE_WORDS[change.adding, change.mode]
    # A room password is never shown to line users.
    return words.format(change.argument) if change.mode is not RoomMode.KEY else words


def render(event: Event) -> bytes:
    """
    Render an event for every line client that receives it; the same bytes
    go to all of them.
    """
    source = event.source.nick
    if isinstance(event, (Message, PrivateMessage)):
        if event.text.startswith("\x01"):
            # A CTCP request between IRC clients means nothing on a terminal.
            return b""
        where = event.room if isinstance(event, Message) else "private"
        return encode(_said(where, source, event.text, event.kind))
    if isinstance(event, Joined):
        return encode(f"{SERVER}{source} joined {event.room}")
    if isinstance(event, Parted):
        return encode(_with_reason(f"{SERVER}{source} left {event.room}", event.reason))
    if isinstance(event, Quit):
        return encode(_with_reason(f"{SERVER}{source} quit", event.reason))
    if isinstance(event, NickChanged):
        return encode(f"{SERVER}{source} is now known as {event.new_nick}")
    if isinstance(event, TopicChanged):
        if event.topic:
            topic = text.strip_formatting(event.topic)
            return encode(f"{SERVER}{source} set the topic of {event.room}: {topic}")
        return encode(f"{SERVER}{source} cleared the topic of {event.room}")
    if isinstance(event, Kicked):
        return encode(_with_reason(
            f"{SERVER}{source} kicked {event.target} from {event.room}", event.reason))
    if isinstance(event, ModeChanged):
        done = ", ".join(_describe(change) for change in event.changes)
        return encode(f"{SERVER}{source} {done} in {event.room}")
    if isinstance(event, Invited):
        return encode(f"{SERVER}{source} invites you to {event.room} (/join {event.room})")
    return b""


# Commands

@dataclass(frozen=True)
class Command:
    """
    A slash command: its handler, whether it needs an argument, and how it is
    described to people.
    """

    handler: Callable[[LineChatProtocol, User, str], None]
    usage: str
    summary: str
    needs_argument: bool = False


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, summary: str, needs_argument: bool = False):
    def register(handler):
        COMMANDS[name] = Command(handler, usage, summary, needs_argument)
        return handler
    return register


def _room_name(name: str) -> str:
    return name if name.startswith("#") else "#" + name


class LineChatProtocol(GuardedLineReceiver):
    """
    One netcat, telnet or TLS line client.
    """

    renderer = staticmethod(render)

    def __init__(self) -> None:
        self.session = SessionMachine(self)
        self._current: Room | None = None
        self._nick_attempts = 0
        self._first_line = True
        self._telnet = TelnetFilter()

    @property
    def hub(self):
        return self.factory.hub

    def tell(self, message: str) -> None:
        """Send the client one line of server text."""
        self.send(encode(SERVER + message))

    def current_room(self, user: User) -> Room | None:
        """
        The room the client's plain lines go to: the one it last joined or
        switched to, or, if it has left that room (or was kicked), the most
        recent of its other rooms.
        """
        room = self._current
        if room is None or not room.is_member(user):
            rooms = list(user.rooms.values())
            room = self._current = rooms[-1] if rooms else None
        return room

    def _needs_room(self, user: User) -> Room:
        room = self.current_room(user)
        if room is None:
            raise errors.NotInRoom("You are not in a room: /join one first.")
        return room

    # Hooks of GuardedLineReceiver

    def connection_opened(self) -> None:
        count = self.hub.user_count
        people = "1 person" if count == 1 else f"{count} people"
        self.tell(f"Welcome to {self.hub.name}! {people} online.")
        self._prompt()

    def refuse_too_many_connections(self, limit: int) -> None:
        self.tell(f"Too many connections from your address (the limit is {limit}).")

    def filter_input(self, data: bytes) -> bytes:
        if self._first_line and data.startswith(_TLS_HANDSHAKE):
            self.send(_TLS_HINT)
            self.close("TLS on the plain-text port")
            return b""
        return self._telnet.feed(data)

    def handle_line(self, line: bytes) -> None:
        if self._first_line:
            self._first_line = False
            if self._refuse_foreign(line):
                return
        self.session.received(text.decode(line))

    def internal_error(self) -> None:
        self.tell("Sorry, the server failed to handle that line; it was dropped.")

    def line_too_long(self) -> None:
        self.tell(f"Line too long (the limit is {self.factory.limits.max_line_length} "
                  "bytes); it was discarded.")

    def connection_closing(self, reason: str) -> None:
        self.tell(f"Closing the connection: {reason}.")
        self.session.hang_up(reason)

    def connection_closed(self, reason: str) -> None:
        self.session.hang_up(reason)

    def _refuse_foreign(self, line: bytes) -> bool:
        if _HTTP_REQUEST.match(line):
            self.send(_HTTP_HINT)
            self.close("HTTP on the chat port")
            return True
        if _IRC_REGISTRATION.match(line):
            self.send(_IRC_HINT)
            self.close("IRC on the line-chat port")
            return True
        return False

    # Awaiting a nickname

    def _prompt(self) -> None:
        self.tell("Choose a nickname (letters, digits and _-[]\\`^{}|, up to 32):")

    def before_sign_in(self, session: Session, line: str) -> None:
        """The line is a nickname to try."""
        nick = line.strip()
        try:
            user = self.hub.register(nick, self, host=self.peer_host)
        except errors.ChatError as refusal:
            self._nick_attempts += 1
            self.tell(str(refusal))
            if self._nick_attempts >= self.factory.limits.max_nick_attempts:
                self.close("Too many invalid nicknames")
            else:
                self._prompt()
            return
        session.signed_in(user)

    def welcome(self, user: User) -> None:
        self.registered()
        self.log.info("{peer} signed in as {nick}", peer=self.peer_host, nick=user.nick)
        self.tell(f"Hello {user.nick}! Type /help for the commands.")
        self._attempt(self._join, user, self.hub.default_room)

    # Chatting

    def after_sign_in(self, user: User, line: str) -> None:
        """The line is something to say, or a command."""
        if line.startswith("/") and not line.startswith("//"):
            name, _, argument = line[1:].partition(" ")
            self._run(user, name.lower(), argument.strip())
            return
        if line.startswith("//"):
            line = line[1:]
        if not line.strip():
            return
        self._attempt(self._say, user, line)

    def _say(self, user: User, line: str, kind: Kind = Kind.SAY) -> None:
        self.hub.say(user, self._needs_room(user).name, line, kind)

    def _run(self, user: User, name: str, argument: str) -> None:
        found = COMMANDS.get(name)
        if found is None:
            self.tell(f"Unknown command /{name}; /help lists the commands.")
        elif found.needs_argument and not argument:
            self.tell(f"Usage: {found.usage}")
        else:
            self._attempt(found.handler, self, user, argument)

    def _attempt(self, action, *args) -> None:
        try:
            action(*args)
        except errors.ChatError as refusal:
            self.tell(str(refusal))

    def sign_out(self, user: User, reason: str) -> None:
        self._current = None
        self.hub.quit(user, reason)

    def _join(self, user: User, name: str, password: str | None = None) -> None:
        room, joined = self.hub.join(user, name, password)
        self._current = room
        if joined is None:
            self.tell(f"You are now talking in {room.name}.")
            return
        others = len(room.members) - 1
        self.tell(f"You joined {room.name}; "
                  + ("nobody else is here." if not others
                     else f"{others} other{'s' if others > 1 else ''} here."))
        self._show_topic(room)

    def _show_topic(self, room: Room) -> None:
        if room.topic:
            self.tell(f"Topic of {room.name}: {text.strip_formatting(room.topic)} "
                      f"(set by {room.topic_by})")
        else:
            self.tell(f"{room.name} has no topic.")

    @command("join", "/join #room [password]", "join a room (creating it) or switch to it",
             needs_argument=True)
    def _cmd_join(self, user: User, argument: str) -> None:
        name, _, password = argument.partition(" ")
        self._join(user, _room_name(name), password.strip() or None)

    @command("part", "/part [#room] [reason]", "leave a room (the current one by default)")
    def _cmd_part(self, user: User, argument: str) -> None:
        if argument.startswith("#"):
            name, _, reason = argument.partition(" ")
        else:
            name, reason = self._needs_room(user).name, argument
        was_current = self._current is not None and self._current.key == names.fold(name)
        event = self.hub.part(user, name, reason.strip())
        self.tell(f"You left {event.room}.")
        if was_current:
            room = self.current_room(user)
            if room is not None:
                self.tell(f"You are now talking in {room.name}.")
            else:
                self.tell("You are in no room now: /join one.")

    @command("rooms", "/rooms", "list the rooms and how many people are in each")
    def _cmd_rooms(self, user: User, argument: str) -> None:
        rooms = sorted((room for room in self.hub.rooms()
                        if RoomMode.SECRET not in room.flags or room.is_member(user)),
                       key=lambda room: room.key)
        self.tell(f"{len(rooms)} room{'s' if len(rooms) != 1 else ''}:")
        for room in rooms:
            topic = f": {text.strip_formatting(room.topic)}" if room.topic else ""
            self.tell(f"  {room.name} ({len(room.members)}){topic}")

    @command("who", "/who [#room]", "list the people in a room (the current one by default)")
    def _cmd_who(self, user: User, argument: str) -> None:
        if argument:
            name = _room_name(argument.split()[0])
            room = self.hub.find_room(name)
            if RoomMode.SECRET in room.flags and not room.is_member(user):
                # As /rooms does, keep a secret room from those outside it.
                raise errors.NoSuchRoom(f"There is no room called {name}.")
        else:
            room = self._needs_room(user)
        nicks = sorted(("@" if room.is_operator(m) else "") + m.nick
                       for m in room.members.values())
        nicks.sort(key=lambda nick: nick.lstrip("@").lower())
        self.tell(f"In {room.name} ({len(nicks)}): {', '.join(nicks)}")

    @command("topic", "/topic [text]", "show or set the current room's topic")
    def _cmd_topic(self, user: User, argument: str) -> None:
        room = self._needs_room(user)
        if not argument:
            self._show_topic(room)
        else:
            event = self.hub.set_topic(user, room.name, argument)
            self.tell(f"You set the topic of {event.room}: {text.strip_formatting(event.topic)}")

    @command("msg", "/msg NICK text", "say something privately to one person",
             needs_argument=True)
    def _cmd_msg(self, user: User, argument: str) -> None:
        nick, _, message = argument.partition(" ")
        if not message.strip():
            self.tell("Usage: /msg NICK text")
            return
        event = self.hub.tell(user, nick, message)
        self.send(encode(_said(f"to {event.target}", user.nick, event.text, event.kind)))
        try:
            target = self.hub.find_user(event.target)
        except errors.NoSuchNick:
            return  # telling them dropped them (a full send queue)
        if target.away:
            self.tell(f"{target.nick} is away: {text.strip_formatting(target.away)}")

    @command("me", "/me action", "describe what you are doing", needs_argument=True)
    def _cmd_me(self, user: User, argument: str) -> None:
        self._say(user, argument, Kind.ACTION)

    @command("nick", "/nick NEW", "change your nickname", needs_argument=True)
    def _cmd_nick(self, user: User, argument: str) -> None:
        old = user.nick
        if self.hub.rename(user, argument.split()[0]) is not None:
            self.log.info("{old} is now {new}", old=old, new=user.nick)
        self.tell(f"You are now known as {user.nick}.")

    @command("kick", "/kick NICK [reason]", "remove someone from the current room (operators)",
             needs_argument=True)
    def _cmd_kick(self, user: User, argument: str) -> None:
        nick, _, reason = argument.partition(" ")
        event = self.hub.kick(user, self._needs_room(user).name, nick, reason.strip())
        self.tell(f"You kicked {event.target} from {event.room}.")

    @command("invite", "/invite NICK", "invite someone to the current room",
             needs_argument=True)
    def _cmd_invite(self, user: User, argument: str) -> None:
        event = self.hub.invite(user, argument.split()[0], self._needs_room(user).name)
        self.tell(f"You invited {event.target} to {event.room}.")

    @command("away", "/away [message]", "mark yourself away, or back without a message")
    def _cmd_away(self, user: User, argument: str) -> None:
        self.hub.set_away(user, argument)
        self.tell(f"You are marked away: {text.strip_formatting(user.away)}" if user.away
                  else "You are no longer marked away.")

    @command("help", "/help", "list the commands")
    def _cmd_help(self, user: User, argument: str) -> None:
        self.tell("Commands:")
        width = max(len(c.usage) for c in COMMANDS.values())
        for found in COMMANDS.values():
            self.tell(f"  {found.usage.ljust(width)}  {found.summary}")
        self.tell("  //text".ljust(width + 4) + "say a line that starts with /")

    @command("quit", "/quit [reason]", "leave the server")
    def _cmd_quit(self, user: User, argument: str) -> None:
        self.close(f"Quit: {argument}" if argument else "Quit")


class LineChatFactory(GuardedFactory):
    """Builds a L{LineChatProtocol} for each line-chat connection."""

    protocol = LineChatProtocol
