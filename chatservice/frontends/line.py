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
   gets a reason and another prompt.  A plain (unencrypted) connection to an
   address other than loopback is told, after the greeting, which TLS port
   to use instead, when the server has a TLS line-chat listener::

       *** This connection is not encrypted: for TLS, connect to port 8443.

2. Once signed in, a line is said to the client's current room (``#lobby``
   at first), unless it is a command::

       /join #room   /part [#room] [reason]   /rooms   /who [#room]
       /topic [text] /msg NICK text   /me action   /nick NEW   /help
       /history [N]  /search words    /quit [reason]
       /upload [#room|nick]   /delete LINK
       //text says "/text"

Everything the server itself says starts with ``*** ``.  What people say
always starts with where it was said and who said it::

       [#lobby] <alice> hello            a message to a room
       [#lobby] * alice waves            an action (/me)
       [private] <alice> psst            a private message to you
       [to bob] <alice> psst             your own private message, confirmed
       *** bob joined #lobby             the server speaking

so no one can make a line look as if it came from the server or from somebody
else.

Joins to a room in one reactor turn (in a crowd, within a quarter of a second),
with nothing else between them, are one line (see L{chatservice.core.arrivals}): ``*** alice and bob joined #lobby``,
``*** alice, bob and carol joined #lobby``, ``*** alice, bob and 35 others
joined #lobby``.

History
=======
The server keeps what is said in rooms (in its data directory; with
``--no-persistence`` in memory, until it stops).  Joining a room, the default
room at sign-in included, shows after the topic line the last
``--replay-lines`` messages said there before the join (15 by default; 0
turns this off), each behind the time it was said, between a header and a
footer::

       *** 3 earlier messages in #lobby, since 14:02:
       [14:02] [#lobby] <alice> hi
       [14:03] [#lobby] * bob waves
       [14:05] [#lobby] -bot- a notice
       *** End of earlier messages.

Nothing is shown, not even the header, when nothing was said before.  Only
messages, actions and notices are shown (rendered as live ones are), not
joins, parts or other events.  The history is read from disk: lines said
after the join may arrive before it, as they happen.

Times are in the server's local time zone: ``14:02`` for the server's today,
``Dec 01 14:02`` for other days, ``Dec 01 2025 14:02`` for other years.

``/history [N]`` shows the last N messages of the current room (50 by
default; more than 200 is brought down to 200, and the server says so)::

       *** The last 2 messages in #lobby, since Dec 01 14:02:
       [Dec 01 14:02] [#lobby] <alice> hi
       [09:15] [#lobby] <bob> morning
       *** End of history.

or ``*** No messages in #lobby yet.``  ``/search words`` shows the 20 most
recent messages of the current room that contain every one of the words
(anywhere in the text, in any case), in the same form, between
``*** 2 messages in #lobby contain "hi there", since 14:02:`` (or
``*** The latest 20 messages in #lobby that contain "hi there", ...``) and
``*** End of search results.``, or says
``*** No messages in #lobby contain "hi there".``  Both are refused with a
``***`` line saying why: to someone in no room, to someone asking too often,
on a server that keeps no history, and when the history cannot be read.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable


from twisted.internet.interfaces import ISSLTransport

from ..core import certfps, errors, names, text, tokens
from ..core.files import TOKEN_LIFETIME
from ..core.history import SEARCH_LIMIT, Query, is_person
from ..core.events import (
    Event,
    Invited,
    Joined,
    JoinedTogether,
    Kicked,
    Kind,
    Message,
    ModeChanged,
    NickChanged,
    Parted,
    PrivateFileShared,
    PrivateMessage,
    Quit,
    Redacted,
    RoomRenamed,
    TopicChanged,
)
from ..core.accounts import RESERVED, AccountError
from ..core.hub import Room, User
from ..core.rooms import MUTE_PREFIX, ModeChange, RoomMode
from . import secure
from .secure import certificate_fingerprint
from .connection import SHUTTING_DOWN, GuardedFactory, GuardedLineReceiver
from .session import Session, SessionMachine
from .telnet import IAC, TelnetFilter
from .waiting import WaitsForChecks

SERVER = "*** "

_HTTP_REQUEST = re.compile(rb"[A-Z]{3,10} \S+ HTTP/\d", re.ASCII)
_IRC_REGISTRATION = re.compile(rb"(CAP|NICK|USER|PASS) ", re.ASCII)
_TLS_HANDSHAKE = b"\x16\x03"
# Telnet: the server will echo (so the client stops), or will not (it echoes again).
_ECHO_OFF = IAC + b"\xfb\x01"
_ECHO_ON = IAC + b"\xfc\x01"

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
    """One line for a terminal, UTF-8 and CR LF, without what only misleads there."""
    return text.for_terminal(line).encode("utf-8") + b"\r\n"


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


# History

# How many messages /history shows by default, and at most.
HISTORY_DEFAULT = 50
HISTORY_MAX = 200
# How much of the words searched for is repeated back.
SEARCH_ECHO = 60

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_COUNT = re.compile(r"[+-]?[0-9]+", re.ASCII)


def when(moment: float, now: float, localtime=time.localtime) -> str:
    """
    The local time of C{moment} as a line user reads it: C{14:02} on the
    day of C{now}, C{Dec 01 14:02} on another day of its year, and
    C{Dec 01 2025 14:02} in another year.  Month names do not depend on the
    server's locale.
    """
    try:
        at, today = localtime(moment), localtime(now)
    except (OverflowError, OSError, ValueError):
        return "--:--"  # a time no calendar can show
    clock = f"{at.tm_hour:02d}:{at.tm_min:02d}"
    if (at.tm_year, at.tm_yday) == (today.tm_year, today.tm_yday):
        return clock
    day = f"{_MONTHS[at.tm_mon - 1]} {at.tm_mday:02d}"
    if at.tm_year != today.tm_year:
        day += f" {at.tm_year}"
    return f"{day} {clock}"


def _shown(events: list[Event]) -> list[Message]:
    """Of events read from history, the messages a terminal shows."""
    return [event for event in events
            if isinstance(event, Message) and not event.text.startswith("\x01")]


def _history_line(event: Message, where: str, now: float, localtime) -> str:
    # Text is cleaned before the hub accepts it; cleaning it again costs
    # little and keeps a store written by anything else from reaching a
    # terminal.
    return (f"[{when(event.time, now, localtime)}] "
            + _said(where, text.clean(event.source.nick), text.clean(event.text), event.kind))


def _since(events: list[Message], now: float, localtime) -> str:
    first = when(events[0].time, now, localtime)
    return f"at {first}" if len(events) == 1 else f"since {first}"


def _history_count(argument: str) -> tuple[int, bool]:
    """
    The number of messages C{/history ARGUMENT} asks for, and whether it
    was brought down to L{HISTORY_MAX}.

    @raise errors.ChatError: the argument is not a number from 1 up.
    """
    word = argument.split()[0] if argument.split() else ""
    if not word:
        return HISTORY_DEFAULT, False
    if not _COUNT.fullmatch(word) or word.startswith("-") or not word.strip("+0"):
        raise errors.ChatError(
            f"Usage: /history [NICK] [N], where N is a number of messages from 1 to "
            f"{HISTORY_MAX}.")
    # Compared as text first: int() refuses strings of thousands of digits.
    digits = word.lstrip("+0")
    if len(digits) > len(str(HISTORY_MAX)) or int(digits) > HISTORY_MAX:
        return HISTORY_MAX, True
    return int(digits), False


def _quoted(words: str) -> str:
    words = text.strip_formatting(" ".join(words.split()))
    if len(words) > SEARCH_ECHO:
        words = words[:SEARCH_ECHO - 3] + "..."
    return f'"{words}"'


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
    (True, RoomMode.INVITE_EXCEPTION): "let {} in without an invitation",
    (False, RoomMode.INVITE_EXCEPTION): "no longer lets {} in without an invitation",
    (True, RoomMode.BAN_EXCEPTION): "exempted {} from bans",
    (False, RoomMode.BAN_EXCEPTION): "no longer exempts {} from bans",
    (True, RoomMode.NO_CTCP): "closed the room to CTCP requests",
    (False, RoomMode.NO_CTCP): "opened the room to CTCP requests",
    (True, RoomMode.OPERATOR): "made {} an operator",
    (False, RoomMode.OPERATOR): "took operator status from {}",
    (True, RoomMode.VOICE): "gave {} a voice",
    (False, RoomMode.VOICE): "took the voice from {}",
}


def _describe(change: ModeChange) -> str:
    if change.mode is RoomMode.BAN and (change.argument or "").startswith(MUTE_PREFIX):
        return ("muted {}" if change.adding else "unmuted {}").format(change.argument[2:])
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
        # A message for a room's operators (IRC's @#room) says so.
        where = event.status + event.room if isinstance(event, Message) else "private"
        if isinstance(event, PrivateFileShared):
            # Its uploader gets it too: say whom it was shared with.
            where = f"to {event.target}"
        lines = getattr(event, "lines", None)
        if lines:
            # A message of several lines (from IRC's draft/multiline): each
            # line that is not blank on a line of its own.
            return b"".join(encode(_said(where, source, line, event.kind))
                            for line, _ in lines if line.strip())
        return encode(_said(where, source, event.text, event.kind))
    if isinstance(event, Joined):
        return encode(f"{SERVER}{source} joined {event.room}")
    if isinstance(event, JoinedTogether):
        return encode(f"{SERVER}{_who_joined(event)} joined {event.room}")
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
    if isinstance(event, Redacted):
        # A terminal cannot take back a line: say that it is gone.
        return encode(_with_reason(f"{SERVER}{source} removed a message from {event.room}",
                                   event.reason))
    if isinstance(event, RoomRenamed):
        return encode(_with_reason(
            f"{SERVER}{source} renamed {event.room} to {event.new_name}", event.reason))
    return b""


# Joins in one reactor turn reach line clients as one line (core.arrivals).
render.merges_joins = True

# How many of the people who joined together are named, at most.
JOINS_NAMED = 3


def _who_joined(event: JoinedTogether) -> str:
    """
    C{alice and bob}, C{alice, bob and carol}, or, for more than
    L{JOINS_NAMED}, C{alice, bob and 35 others}: a line a reader can take
    in, whose count says how many came; /who names them all.
    """
    nicks = [join.source.nick for join in event.joins]
    if len(nicks) > JOINS_NAMED:
        nicks = [*nicks[:JOINS_NAMED - 1], f"{len(nicks) - JOINS_NAMED + 1} others"]
    return f"{', '.join(nicks[:-1])} and {nicks[-1]}"


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
    # Shown by /help only on a server that shares files (with --web).
    needs_files: bool = False


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, summary: str, needs_argument: bool = False,
            needs_files: bool = False):
    def register(handler):
        COMMANDS[name] = Command(handler, usage, summary, needs_argument, needs_files)
        return handler
    return register


def _room_name(name: str) -> str:
    return name if name.startswith("#") else "#" + name


class LineChatProtocol(WaitsForChecks, GuardedLineReceiver):
    """
    One netcat, telnet or TLS line client.
    """

    renderer = staticmethod(render)
    # A registered nickname waiting for its password, and its account.
    _login_nick: str | None = None
    _login_account = ""
    _warned_plain = False
    _signed_in = False
    # How history times become local times (replaced in tests).
    localtime = staticmethod(time.localtime)
    # Joins whose replay has not arrived yet: room key -> the join's id.
    _replays: dict[str, int] | None = None

    def __init__(self) -> None:
        super().__init__()
        # What every line connection comes to hold, set now for the reason
        # GuardedLineReceiver.__init__ gives.
        self.session = SessionMachine(self)
        self._signed_in = False
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

    def tell_lines(self, messages: list[str]) -> None:
        """Send the client lines of server text (a command's answer), in order."""
        for message in messages:
            self.tell(message)

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
        tls_port = self.factory.tls_port
        if (tls_port is not None and secure.is_socket(self.transport)
                and not secure.is_encrypted(self.transport)
                and not secure.is_loopback(self.transport.getHost())):
            self.tell(f"This connection is not encrypted: for TLS, connect to port {tls_port}.")
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
        decoded = text.decode(line)
        if not self.hold(decoded):
            self.session.received(decoded)

    def internal_error(self) -> None:
        self.tell("Sorry, the server failed to handle that line; it was dropped.")

    def line_too_long(self) -> None:
        self.tell(f"Line too long (the limit is {self.factory.limits.max_line_length} "
                  "bytes); it was discarded.")

    def connection_closing(self, reason: str) -> None:
        if reason == SHUTTING_DOWN:
            self.tell("The server is shutting down.")
        else:
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
        """The line is a nickname to try, or the password of a registered one."""
        if self._login_nick is not None:
            self._password_given(session, line)
            return
        nick = line.strip()
        accounts = self.hub.accounts
        if accounts is None or names.nick_problem(nick):
            self._sign_in(session, nick)
            return
        if names.fold(nick) in RESERVED:
            self._refuse_nick(f"The nickname {nick} is reserved for the server's services.")
            return
        checking = accounts.find(nick)
        checking.addCallback(self._nick_found, session, nick)
        checking.addErrback(self._check_failed)
        self.wait_for(checking)

    def _refuse_nick(self, reason: str) -> None:
        self._nick_attempts += 1
        self.tell(reason)
        if self._nick_attempts >= self.factory.limits.max_nick_attempts:
            self.close("Too many invalid nicknames")
        else:
            self._prompt()

    def _sign_in(self, session: Session, nick: str, account: str | None = None) -> None:
        try:
            user = self.hub.register(nick, self, host=self.peer_host)
        except errors.ChatError as refusal:
            self._refuse_nick(str(refusal))
            return
        user.account = account
        session.signed_in(user)
        if account is not None:
            self.tell(f"You are logged in as {account}.")

    def _nick_found(self, owner, session: Session, nick: str) -> None:
        if not self.connected_still():
            return
        if owner is None:
            if self.hub.accounts.require_account:
                self._refuse_nick("This server is for account holders only: choose your "
                                  "registered nickname.")
                return
            self._sign_in(session, nick)
            return
        self._login_nick, self._login_account = nick, owner.name
        self._ask_password()

    def _ask_password(self) -> None:
        self.tell("This nickname is registered. Password (or an empty line for another "
                  "nickname):")
        if self._telnet.seen:
            self.send(_ECHO_OFF)

    def _password_given(self, session: Session, password: str) -> None:
        nick, account = self._login_nick, self._login_account
        if self._telnet.seen:
            self.send(_ECHO_ON + b"\r\n")
        if not password.strip():
            self._login_nick = None
            self._prompt()
            return
        checking = self.hub.accounts.login(account, password, self.peer_host)
        checking.addCallbacks(self._password_good, self._password_bad,
                              callbackArgs=(session, nick))
        checking.addErrback(self._check_failed)
        self.wait_for(checking)

    def _password_good(self, account, session: Session, nick: str) -> None:
        self._login_nick = None
        if self.connected_still():
            self.hub.ghost(nick, account.name)
            self._sign_in(session, nick, account.name)

    def _password_bad(self, failure) -> None:
        failure.trap(AccountError)
        if not self.connected_still():
            return
        self._nick_attempts += 1
        self.tell(str(failure.value))
        if self._nick_attempts >= self.factory.limits.max_nick_attempts:
            self.close("Too many failed logins")
        else:
            self._ask_password()

    def _check_failed(self, failure) -> None:
        if failure.check(errors.ChatError):
            self.tell(str(failure.value))
        else:
            self.log.failure("An account check failed", failure)
            self.internal_error()
        if self.connected_still() and not self._signed_in:
            self._login_nick = None
            self._prompt()

    def welcome(self, user: User) -> None:
        self._signed_in = True
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
        self._replay(user, room, joined.id)

    def _show_topic(self, room: Room) -> None:
        if room.topic:
            self.tell(f"Topic of {room.name}: {text.strip_formatting(room.topic)} "
                      f"(set by {room.topic_by})")
        else:
            self.tell(f"{room.name} has no topic.")

    # History

    def _history(self):
        history = self.hub.history
        if history is None:
            raise errors.ChatError("This server keeps no history.")
        return history

    def _still_here(self, user: User) -> bool:
        """Whether C{user} is still signed in on this connection."""
        if self._lost or self._closing_reason is not None:
            return False
        try:
            return self.hub.find_user(user.nick) is user
        except errors.NoSuchNick:
            return False

    def _replay(self, user: User, room: Room, join_id: int) -> None:
        """Show what was said in C{room} before the join C{join_id}."""
        history = self.hub.history
        if history is None or history.replay_lines <= 0:
            return
        try:
            reading = history.replay(user, room.name, before_id=join_id)
        except errors.ChatError:
            return  # a member may read; the join itself is not refused over it
        if self._replays is None:
            self._replays = {}
        self._replays[room.key] = join_id
        reading.addCallback(self._replayed, user, room, join_id)
        reading.addErrback(self._history_failed, user, room.name)

    def _replayed(self, events: list[Event], user: User, room: Room, join_id: int) -> None:
        replays = self._replays
        if replays is None or replays.get(room.key) != join_id:
            return  # left, and maybe joined again, meanwhile
        del replays[room.key]
        if not replays:
            self._replays = None
        if not (self._still_here(user) and room.is_member(user)):
            return
        shown = _shown(events)
        if shown:
            now = self.hub.clock.seconds()
            earlier = ("1 earlier message" if len(shown) == 1
                       else f"{len(shown)} earlier messages")
            self._show_history(
                room.name, shown, now,
                f"{earlier} in {room.name}, {_since(shown, now, self.localtime)}:",
                "End of earlier messages.")

    def _show_history(self, where: str, shown: list[Message], now: float,
                      header: str, footer: str, where_of=None) -> None:
        localtime = self.localtime
        lines = [encode(SERVER + header)]
        lines.extend(encode(_history_line(event, where_of(event) if where_of else where, now,
                                          localtime)) for event in shown)
        lines.append(encode(SERVER + footer))
        self.send(b"".join(lines))

    def _history_failed(self, failure, user: User, where: str) -> None:
        self.log.failure("Reading the history of {room} failed", failure, room=where)
        if self._still_here(user):
            self.tell(f"The history of {where} cannot be read now; try again later.")

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
        wanted = argument.split()[0]
        accounts = self.hub.accounts
        if accounts is None or names.fold(wanted) == user.key:
            self._rename(user, wanted)
            return
        checking = accounts.nick_refusal(wanted, user.account)
        checking.addCallback(self._rename_unless_refused, user, wanted)
        checking.addErrback(self._check_failed)
        self.wait_for(checking)

    def _rename_unless_refused(self, refusal: str | None, user: User, wanted: str) -> None:
        if not self._still_here(user):
            return
        if refusal is not None:
            self.tell(refusal)
            return
        self._attempt(self._rename, user, wanted)

    def _rename(self, user: User, wanted: str) -> None:
        old = user.nick
        if self.hub.rename(user, wanted) is not None:
            self.log.info("{old} is now {new}", old=old, new=user.nick)
        self.tell(f"You are now known as {user.nick}.")

    # Accounts

    def _account_call(self, user: User, checking, done) -> None:
        """Run an account request; C{done(result)} tells the outcome."""
        def succeeded(result):
            if self._still_here(user):
                done(result)

        def failed(failure):
            failure.trap(errors.ChatError)
            if self._still_here(user):
                self.tell(str(failure.value))
        checking.addCallbacks(succeeded, failed)
        checking.addErrback(self._check_failed)
        self.wait_for(checking)

    def _accounts(self):
        if self.hub.accounts is None:
            raise errors.ChatError("This server has no accounts.")
        return self.hub.accounts

    def _warn_plain(self) -> None:
        if not self._warned_plain and not ISSLTransport.providedBy(self.transport):
            self._warned_plain = True
            self.tell("Warning: this connection is not encrypted; anyone on the path can "
                      "read your password. Use the server's TLS port if it has one.")

    @command("register", "/register PASSWORD [email]",
             "register your nickname as an account", needs_argument=True)
    def _cmd_register(self, user: User, argument: str) -> None:
        password, _, email = argument.partition(" ")
        if user.account:
            raise errors.ChatError(f"You are already logged in as {user.account}.")
        self._warn_plain()

        def registered(account):
            self.hub.set_account(user, account.name)
            self.tell(f"Account {account.name} registered; you are logged in.")
        self._account_call(user, self._accounts().register(user.nick, password, email.strip()),
                           registered)

    @command("login", "/login NAME PASSWORD", "log in to your account", needs_argument=True)
    def _cmd_login(self, user: User, argument: str) -> None:
        name, _, password = argument.partition(" ")
        if not password:
            raise errors.ChatError("Usage: /login NAME PASSWORD")

        def logged_in(account):
            self.hub.set_account(user, account.name)
            self.tell(f"You are logged in as {account.name}.")
        self._account_call(user, self._accounts().login(name, password, self.peer_host),
                           logged_in)

    @command("logout", "/logout", "log out of your account")
    def _cmd_logout(self, user: User, argument: str) -> None:
        if not user.account:
            raise errors.ChatError("You are not logged in.")
        self.hub.set_account(user, None)
        self.tell("You are logged out.")

    @command("passwd", "/passwd OLD NEW", "change your account's password", needs_argument=True)
    def _cmd_passwd(self, user: User, argument: str) -> None:
        old, _, new = argument.partition(" ")
        if not user.account:
            raise errors.ChatError("Log in first (/login NAME PASSWORD).")
        if not new:
            raise errors.ChatError("Usage: /passwd OLD NEW")
        accounts = self._accounts()
        checking = accounts.login(user.account, old, self.peer_host, token_ok=False)
        checking.addCallback(lambda account: accounts.change_password(account, new))
        self._account_call(user, checking, lambda _: self.tell("Your password is changed."))

    @command("ghost", "/ghost NICK PASSWORD", "sign out whoever holds your nickname",
             needs_argument=True)
    def _cmd_ghost(self, user: User, argument: str) -> None:
        nick, _, password = argument.partition(" ")
        if not password:
            raise errors.ChatError("Usage: /ghost NICK PASSWORD")

        def ghosted(account):
            if self.hub.ghost(nick, account.name, user) is None:
                self.tell(f"Nobody else is using {nick}.")
            else:
                self.tell(f"{nick} is free again.")
        self._account_call(user, self._accounts().login_for_nick(nick, password,
                                                                 self.peer_host), ghosted)

    @command("certfp", "/certfp add|del|list [FP]",
             "TLS client certificates that log in to your account (SASL EXTERNAL; "
             "default: this connection's)")
    def _cmd_certfp(self, user: User, argument: str) -> None:
        current = certificate_fingerprint(self.transport)
        self._account_call(user, certfps.command(self._accounts(), user.account,
                                                 argument.split(), current),
                           self.tell_lines)

    @command("tokens", "/tokens [new|revoke ID]",
             "list your login tokens (remembered logins), make one, or revoke one "
             "(ID) or all")
    def _cmd_tokens(self, user: User, argument: str) -> None:
        self._account_call(user, tokens.command(self._accounts(), user.account,
                                                argument.split()),
                           self.tell_lines)

    @command("op", "/op NICK", "make NICK's account an operator of the current room "
             "(founders)", needs_argument=True)
    def _cmd_op(self, user: User, argument: str) -> None:
        self._room_role(user, argument.split()[0], True)

    @command("deop", "/deop NICK", "take that back (founders)", needs_argument=True)
    def _cmd_deop(self, user: User, argument: str) -> None:
        self._room_role(user, argument.split()[0], False)

    def _room_role(self, user: User, nick: str, adding: bool) -> None:
        roles = self.hub.room_roles
        if roles is None:
            raise errors.ChatError("This server has no accounts.")
        room = self._needs_room(user)
        self._account_call(user, roles.set_operator(user, room.name, nick, adding), self.tell)

    @command("group", "/group", "add your current nickname to your account")
    def _cmd_group(self, user: User, argument: str) -> None:
        if not user.account:
            raise errors.ChatError("Log in first (/login NAME PASSWORD).")
        self._account_call(user, self._accounts().group(user.account, user.nick),
                           lambda _: self.tell(f"{user.nick} now belongs to {user.account}."))

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

    @command("history", "/history [NICK] [N]",
             f"show the last N messages of the current room, or with NICK "
             f"(default {HISTORY_DEFAULT}, at most {HISTORY_MAX})")
    def _cmd_history(self, user: User, argument: str) -> None:
        history = self._history()
        words = argument.split()
        if words and is_person(words[0]):
            count, clamped = _history_count(" ".join(words[1:]))
            reading = history.query(user, words[0], Query(count, messages_only=True))
            if clamped:
                self.tell(f"/history shows at most {HISTORY_MAX} messages.")
            reading.addCallback(self._private_read, user, words[0])
            reading.addErrback(self._history_failed, user, words[0])
            return
        room = self._needs_room(user)
        count, clamped = _history_count(argument)
        reading = history.query(user, room.name, Query(count, messages_only=True))
        if clamped:
            self.tell(f"/history shows at most {HISTORY_MAX} messages.")
        reading.addCallback(self._history_read, user, room.name)
        reading.addErrback(self._history_failed, user, room.name)

    def _history_read(self, events: list[Event], user: User, where: str) -> None:
        if not self._still_here(user):
            return
        shown = _shown(events)
        if not shown:
            self.tell(f"No messages in {where} yet.")
            return
        now = self.hub.clock.seconds()
        last = "The last message" if len(shown) == 1 else f"The last {len(shown)} messages"
        self._show_history(where, shown, now,
                           f"{last} in {where}, {_since(shown, now, self.localtime)}:",
                           "End of history.")

    def _private_read(self, events: list[Event], user: User, nick: str) -> None:
        if not self._still_here(user):
            return
        shown = _shown(events)
        if not shown:
            self.tell(f"No private messages with {nick} are kept." if user.account else
                      "Private messages are kept only for people logged in to accounts.")
            return
        now = self.hub.clock.seconds()

        def where_of(event: Message) -> str:
            # Sent to the one asked about: the reader's own; else to the reader.
            return f"to {event.room}" if names.fold(event.room) == names.fold(nick) else "private"
        self._show_history(nick, shown, now, f"The last {len(shown)} private messages with "
                           f"{nick}, {_since(shown, now, self.localtime)}:", "End of history.",
                           where_of)

    @command("search", "/search words",
             f"show the latest {SEARCH_LIMIT} messages of the current room "
             "containing all the words",
             needs_argument=True)
    def _cmd_search(self, user: User, argument: str) -> None:
        history = self._history()
        room = self._needs_room(user)
        reading = history.search(user, room.name, argument)
        reading.addCallback(self._search_read, user, room.name, _quoted(argument))
        reading.addErrback(self._history_failed, user, room.name)

    def _search_read(self, events: list[Event], user: User, where: str, words: str) -> None:
        if not self._still_here(user):
            return
        shown = _shown(events)
        if not shown:
            self.tell(f"No messages in {where} contain {words}.")
            return
        now = self.hub.clock.seconds()
        if len(events) >= SEARCH_LIMIT:
            found = f"The latest {len(shown)} messages in {where} that contain {words}"
        elif len(shown) == 1:
            found = f"1 message in {where} contains {words}"
        else:
            found = f"{len(shown)} messages in {where} contain {words}"
        self._show_history(where, shown, now,
                           f"{found}, {_since(shown, now, self.localtime)}:",
                           "End of search results.")

    @command("oper", "/oper NAME PASSWORD", "become a server operator", needs_argument=True)
    def _cmd_oper(self, user: User, argument: str) -> None:
        name, _, password = argument.strip().partition(" ")
        if not password:
            self.tell("Usage: /oper NAME PASSWORD")
            return
        try:
            self.hub.become_operator(user, name, password.strip())
        except errors.PasswordMismatch:
            self.log.info("{nick} failed to become an operator", nick=user.nick)
            raise
        self.log.info("{nick} is now a server operator", nick=user.nick)
        self.tell("You are now a server operator.")

    @command("rehash", "/rehash", "reload the server's configuration (server operators)")
    def _cmd_rehash(self, user: User, argument: str) -> None:
        reloading = self.hub.rehash(user)
        self.tell(f"Rehashing {self.hub.reloader.label}...")

        def failed(failure) -> None:
            failure.trap(errors.ReloadFailed)
            if self._still_here(user):
                self.tell(f"Rehash failed, nothing changed: {failure.value}")

        reloading.addCallback(
            lambda summary: self._still_here(user) and self.tell(f"Rehash: {summary}"))
        reloading.addErrback(failed)

    @command("upload", "/upload [#room|nick]",
             "share a file here (or in a room, or with someone): gives a curl command",
             needs_files=True)
    def _cmd_upload(self, user: User, argument: str) -> None:
        files = self.hub.files
        if files is None:
            self.tell("This server does not take files (it has no web front end).")
            return
        target = argument.split()[0] if argument.strip() else self._needs_room(user).name
        token = files.issue_token(user, target)
        self.tell(f"Upload one file to {token.target} within {TOKEN_LIFETIME // 60} "
                  "minutes, from a shell (the name after -T is yours):")
        self.tell(f"  {files.curl_command(token, 'report.pdf')}/")
        self.tell("It is announced here for everyone once it has arrived.")

    @command("delete", "/delete LINK",
             "delete a file you shared (or, as an operator, one shared in your room)",
             needs_argument=True, needs_files=True)
    def _cmd_delete(self, user: User, argument: str) -> None:
        files = self.hub.files
        if files is None:
            self.tell("This server does not take files (it has no web front end).")
            return
        deleted = files.delete(user, files.parse_link(argument))
        self.tell(f"Deleted {deleted.name}; its link answers 410 now.")

    @command("help", "/help", "list the commands")
    def _cmd_help(self, user: User, argument: str) -> None:
        self.tell("Commands:")
        shown = [c for c in COMMANDS.values() if self.hub.files is not None or not c.needs_files]
        width = max(len(c.usage) for c in shown)
        for found in shown:
            self.tell(f"  {found.usage.ljust(width)}  {found.summary}")
        self.tell("  //text".ljust(width + 4) + "say a line that starts with /")

    @command("quit", "/quit [reason]", "leave the server")
    def _cmd_quit(self, user: User, argument: str) -> None:
        self.close(f"Quit: {argument}" if argument else "Quit")


class LineChatFactory(GuardedFactory):
    """
    Builds a L{LineChatProtocol} for each line-chat connection.

    @ivar tls_port: the port of the server's TLS line-chat listener, which
        plain connections from the network are pointed to; C{None} if none.
    """

    protocol = LineChatProtocol
    tls_port: int | None = None
