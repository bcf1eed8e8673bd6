"""
What the client knows about its session, and when to reconnect: pure logic,
fed with classified server lines and the user's lines, with no sockets and no
terminal, so that it is tested line by line.
"""

from __future__ import annotations

import enum
import re
from typing import Callable

from .lines import Kind, Line

# Reconnection delays: 1 s, then doubling, at most 30 s.
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
# A connection that stayed signed in this long was a good one: after it drops,
# the delays start again from the first.
STABLE_AFTER = 10.0


class ReconnectPolicy:
    """
    How long to wait before the next connection attempt: L{FIRST_DELAY},
    doubling after each failure up to L{MAX_DELAY}.  A connection that signs in
    and stays up for L{STABLE_AFTER} seconds (measured with C{clock}) resets
    the delays; one that drops sooner does not, so that a server that accepts
    and hangs up at once is not hammered.
    """

    def __init__(self, clock: Callable[[], float], first: float = FIRST_DELAY,
                 maximum: float = MAX_DELAY, stable_after: float = STABLE_AFTER) -> None:
        self.clock = clock
        self.first = first
        self.maximum = maximum
        self.stable_after = stable_after
        self._next = first
        self._signed_in_at: float | None = None

    def signed_in(self) -> None:
        self._signed_in_at = self.clock()

    def next_delay(self) -> float:
        """A connection failed or dropped: the delay before the next attempt."""
        if (self._signed_in_at is not None
                and self.clock() - self._signed_in_at >= self.stable_after):
            self._next = self.first
        self._signed_in_at = None
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay


class Phase(enum.Enum):
    OFFLINE = "offline"        # not connected
    GREETING = "greeting"      # connected, waiting for the nickname prompt
    NICK = "nick"              # the server waits for a nickname
    PASSWORD = "password"      # the server waits for a password
    CHAT = "chat"              # signed in


_HELLO = re.compile(r"\*\*\* Hello (\S+)! ")
_RENAMED = re.compile(r"\*\*\* You are now known as (\S+?)\.$")
_JOINED = re.compile(r"\*\*\* You joined (#\S+?);")
_CURRENT = re.compile(r"\*\*\* You are now talking in (#\S+?)\.$")
_LEFT = re.compile(r"\*\*\* You left (#\S+?)\.$")
_KICKED = re.compile(r"\*\*\* \S+ kicked (\S+) from (#\S+)")
_OTHER_JOINED = re.compile(r"\*\*\* (\S+) joined #\S+$")
_OTHER_RENAMED = re.compile(r"\*\*\* (\S+) is now known as (\S+)$")
_OTHER_QUIT = re.compile(r"\*\*\* (\S+) quit(?: \(.*\))?$")


def fold(name: str) -> str:
    return name.lower()


class Session:
    """
    The state of one client across its connections.

    Feed it with L{connected}, L{received} (each classified server line) and
    L{typed} (each line the user enters); each returns the lines to send to
    the server now.  It answers the nickname prompt with C{nick} (the one
    given with C{--nick}, then the one the server last confirmed), once per
    connection; keeps what the user types before the server is ready, and
    sends it once it is; and after a reconnection rejoins the rooms it was in,
    the current room last.
    """

    def __init__(self, nick: str | None = None) -> None:
        self.nick = nick
        self.phase = Phase.OFFLINE
        # Rooms in the order they were joined (folded name -> name).
        self.rooms: dict[str, str] = {}
        self.current: str | None = None
        self.nicks: dict[str, str] = {}
        self.ever_signed_in = False
        self._pending: list[str] = []
        self._auto_answered = False   # the nickname prompt answered for the user
        self._awaiting = False        # a prompt waits for the user's answer
        self._wanted: list[str] = []
        self._first_join = False

    # The connection

    def connected(self) -> list[str]:
        self.phase = Phase.GREETING
        self._auto_answered = False
        self._awaiting = False
        return []

    def disconnected(self) -> None:
        """The connection is gone; remember the rooms to rejoin."""
        if self.phase is Phase.CHAT:
            rooms = [name for key, name in self.rooms.items() if key != fold(self.current or "")]
            if self.current:
                rooms.append(self.current)
            self._wanted = rooms
        self.phase = Phase.OFFLINE
        self.rooms = {}
        self.current = None

    @property
    def ready(self) -> bool:
        """The server waits for what the user types."""
        return (self.phase in (Phase.CHAT, Phase.PASSWORD)
                or (self.phase is Phase.NICK and self._awaiting))

    # Lines

    def received(self, line: Line) -> list[str]:
        kind = line.kind
        if kind is Kind.NICK_PROMPT:
            self.phase = Phase.NICK
            if self.nick and not self._auto_answered:
                self._auto_answered = True
                return [self.nick]
            self._awaiting = True
            return self._flush()
        if kind is Kind.PASSWORD_PROMPT:
            self.phase = Phase.PASSWORD
            return []
        if line.nick and kind is not Kind.OWN_PRIVATE:
            self._saw(line.nick)
        if kind is not Kind.SERVER:
            return []
        return self._server(line.text)

    def _server(self, text: str) -> list[str]:
        send: list[str] = []
        hello = _HELLO.match(text)
        if hello:
            self.nick = hello.group(1)
            self.phase = Phase.CHAT
            self.ever_signed_in = True
            self._first_join = bool(self._wanted)
            send += [f"/join {room}" for room in self._wanted]
            return send + self._flush()
        renamed = _RENAMED.match(text)
        if renamed:
            self.nick = renamed.group(1)
            return send
        joined = _JOINED.match(text) or _CURRENT.match(text)
        if joined:
            room = joined.group(1)
            if self._first_join:
                # The server's default room, joined at sign-in; after a
                # reconnection, leave it if it was not one of the rooms.
                self._first_join = False
                if fold(room) not in {fold(r) for r in self._wanted}:
                    self._wanted = []
                    return [f"/part {room}"]
                self._wanted = []
            self.rooms.setdefault(fold(room), room)
            self.current = room
            return send
        left = _LEFT.match(text)
        kicked = _KICKED.match(text)
        if left or (kicked and self.nick and fold(kicked.group(1)) == fold(self.nick)):
            room = left.group(1) if left else kicked.group(2)
            self.rooms.pop(fold(room), None)
            if self.current and fold(self.current) == fold(room):
                self.current = next(reversed(self.rooms.values()), None)
            return send
        other = _OTHER_JOINED.match(text)
        if other:
            self._saw(other.group(1))
            return send
        other = _OTHER_RENAMED.match(text)
        if other:
            self.nicks.pop(fold(other.group(1)), None)
            self._saw(other.group(2))
            return send
        other = _OTHER_QUIT.match(text)
        if other:
            self.nicks.pop(fold(other.group(1)), None)
        return send

    def _saw(self, nick: str) -> None:
        if not self.nick or fold(nick) != fold(self.nick):
            self.nicks[fold(nick)] = nick

    # What the user types

    def typed(self, line: str) -> list[str]:
        """The user entered C{line}: send it now, or keep it until the server is ready."""
        line = line.replace("\r", " ").replace("\n", " ")
        if self.ready and not self._pending:
            if self.phase is Phase.PASSWORD:
                self.phase = Phase.CHAT if self.ever_signed_in else Phase.GREETING
            elif self.phase is Phase.NICK:
                self._awaiting = False
            return [line]
        self._pending.append(line)
        return []

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _flush(self) -> list[str]:
        if not self.ready:
            return []
        pending, self._pending = self._pending, []
        if pending and self.phase is Phase.NICK:
            self._awaiting = False
        return pending
