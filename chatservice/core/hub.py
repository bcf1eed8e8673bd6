"""
The hub: who is signed in, which rooms exist, and who is in them.

It is the single source of truth every front end asks.  Each change it
accepts becomes an event that it hands to everyone concerned except the person
who caused it; that person's front end gets the event back as the return value
and decides how to confirm it on its own wire.

Fan-out renders an event once per wire format: every client carries a
C{renderer} shared by all clients of its front end, and the bytes it returns
are written to each of them.
"""

from __future__ import annotations

import itertools
from typing import Callable, Iterable, Protocol

from twisted.internet.interfaces import IReactorTime

from . import errors, names, text
from .events import (
    Event,
    Joined,
    Kind,
    Message,
    NickChanged,
    Parted,
    PrivateMessage,
    Quit,
    Source,
    TopicChanged,
)

TOPIC_MAX_LENGTH = 390
REASON_MAX_LENGTH = 300


class Client(Protocol):
    """
    What the hub needs from a connection: a renderer shared by every client
    of the same wire format, and a way to send it bytes.
    """

    renderer: Callable[[Event], bytes]

    def send(self, data: bytes) -> None: ...


class User:
    """
    A person signed in to the hub, through one connection.
    """

    __slots__ = ("nick", "key", "username", "host", "client", "rooms", "signed_on")

    def __init__(self, nick: str, username: str, host: str, client: Client, now: float):
        self.nick = nick
        self.key = names.fold(nick)
        self.username = username
        self.host = host
        self.client = client
        self.rooms: dict[str, Room] = {}
        self.signed_on = now

    @property
    def source(self) -> Source:
        return Source(self.nick, self.username, self.host)

    def __repr__(self) -> str:
        return f"<User {self.nick}>"


class Room:
    """
    A named room and its members, in the order they joined.
    """

    __slots__ = ("name", "key", "members", "topic", "topic_by", "topic_time", "created")

    def __init__(self, name: str, now: float):
        self.name = name
        self.key = names.fold(name)
        self.members: dict[str, User] = {}
        self.topic = ""
        self.topic_by = ""
        self.topic_time = 0.0
        self.created = now

    def __repr__(self) -> str:
        return f"<Room {self.name} ({len(self.members)})>"


def _reason(reason: str) -> str:
    return text.clean(reason)[:REASON_MAX_LENGTH]


class Hub:
    """
    The users and rooms of one chat server.

    @ivar name: the server's name, shown to people when they connect.
    @ivar default_room: the room everybody joins on signing in.
    """

    def __init__(self, clock: IReactorTime, name: str = "chatservice",
                 default_room: str = "#lobby"):
        problem = names.room_problem(default_room)
        if problem:
            raise errors.InvalidRoomName(problem)
        self.clock = clock
        self.name = name
        self.default_room = default_room
        self._users: dict[str, User] = {}
        self._rooms: dict[str, Room] = {}
        self._ids = itertools.count(1)

    # Looking things up

    @property
    def user_count(self) -> int:
        return len(self._users)

    def users(self) -> list[User]:
        return list(self._users.values())

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

    def find_user(self, nick: str) -> User:
        user = self._users.get(names.fold(nick))
        if user is None:
            raise errors.NoSuchNick(f"Nobody is called {nick}.")
        return user

    def find_room(self, name: str) -> Room:
        room = self._rooms.get(names.fold(name))
        if room is None:
            raise errors.NoSuchRoom(f"There is no room called {name}.")
        return room

    # Changes

    def register(self, nick: str, client: Client, username: str | None = None,
                 host: str = "") -> User:
        """
        Sign a new person in under C{nick}.

        @raise errors.ErroneousNick: the nickname breaks the rules.
        @raise errors.NickInUse: somebody already has it.
        """
        self._check_nick_free(nick)
        user = User(nick, username or nick, host, client, self.clock.seconds())
        self._users[user.key] = user
        return user

    def rename(self, user: User, new_nick: str) -> NickChanged | None:
        """
        Give C{user} a new nickname; changing only its case is allowed.
        Return the event, or C{None} when nothing changed.
        """
        if new_nick == user.nick:
            return None
        new_key = names.fold(new_nick)
        if new_key != user.key:
            self._check_nick_free(new_nick)
        elif problem := names.nick_problem(new_nick):
            raise errors.ErroneousNick(problem)
        event = NickChanged(self._id(), self.clock.seconds(), user.source, new_nick)
        old_key = user.key
        user.nick, user.key = new_nick, new_key
        del self._users[old_key]
        self._users[new_key] = user
        for room in user.rooms.values():
            del room.members[old_key]
            room.members[new_key] = user
        self._fan_out(event, self._neighbours(user))
        return event

    def join(self, user: User, room_name: str) -> tuple[Room, Joined | None]:
        """
        Put C{user} in the room called C{room_name}, creating it if needed.
        The event is C{None} when they were already there.
        """
        room = self._rooms.get(names.fold(room_name))
        if room is None:
            problem = names.room_problem(room_name)
            if problem:
                raise errors.InvalidRoomName(problem)
            room = Room(room_name, self.clock.seconds())
            self._rooms[room.key] = room
        if user.key in room.members:
            return room, None
        event = Joined(self._id(), self.clock.seconds(), user.source, room.name)
        # Join before telling the others: a member dropped while being told
        # must not leave the joiner in a room the hub has forgotten.
        recipients = list(room.members.values())
        room.members[user.key] = user
        user.rooms[room.key] = room
        self._fan_out(event, recipients)
        return room, event

    def part(self, user: User, room_name: str, reason: str = "") -> Parted:
        """
        Take C{user} out of a room; an empty room ceases to exist.
        """
        room = self._membership(user, room_name)
        event = Parted(self._id(), self.clock.seconds(), user.source, room.name,
                       _reason(reason))
        self._leave(user, room)
        self._fan_out(event, room.members.values())
        return event

    def say(self, user: User, room_name: str, message: str,
            kind: Kind = Kind.SAY) -> Message:
        """
        Say C{message} to everyone else in a room C{user} is in.
        """
        room = self._membership(user, room_name)
        event = Message(self._id(), self.clock.seconds(), user.source, room.name,
                        self._text(message), kind)
        members = room.members
        if len(members) > 1:
            self._fan_out(event, (m for m in members.values() if m is not user))
        return event

    def tell(self, user: User, nick: str, message: str,
             kind: Kind = Kind.SAY) -> PrivateMessage:
        """
        Say C{message} to one other person only.
        """
        target = self.find_user(nick)
        event = PrivateMessage(self._id(), self.clock.seconds(), user.source,
                               target.nick, self._text(message), kind)
        if target is not user:
            self._fan_out(event, (target,))
        return event

    def set_topic(self, user: User, room_name: str, topic: str) -> TopicChanged:
        """
        Set (or, with an empty C{topic}, clear) the topic of a room C{user}
        is in.
        """
        room = self._membership(user, room_name)
        topic = text.clean(topic).strip()
        if len(topic) > TOPIC_MAX_LENGTH:
            raise errors.TooLong(f"A topic has at most {TOPIC_MAX_LENGTH} characters.")
        now = self.clock.seconds()
        room.topic, room.topic_by, room.topic_time = topic, user.nick, now
        event = TopicChanged(self._id(), now, user.source, room.name, topic)
        self._fan_out(event, (m for m in room.members.values() if m is not user))
        return event

    def quit(self, user: User, reason: str = "") -> Quit | None:
        """
        Sign C{user} out: they leave every room, everyone who shared one with
        them is told once, and their nickname is free at once.  Signing out
        twice does nothing the second time.
        """
        if self._users.get(user.key) is not user:
            return None
        event = Quit(self._id(), self.clock.seconds(), user.source, _reason(reason))
        neighbours = self._neighbours(user)
        for room in list(user.rooms.values()):
            self._leave(user, room)
        del self._users[user.key]
        self._fan_out(event, neighbours)
        return event

    # Helpers

    def _id(self) -> int:
        return next(self._ids)

    def _check_nick_free(self, nick: str) -> None:
        problem = names.nick_problem(nick)
        if problem:
            raise errors.ErroneousNick(problem)
        if names.fold(nick) in self._users:
            raise errors.NickInUse(f"The nickname {nick} is taken.")

    @staticmethod
    def _text(message: str) -> str:
        message = text.clean(message)
        if not message.strip():
            raise errors.EmptyMessage("There is nothing to say.")
        return message

    def _membership(self, user: User, room_name: str) -> Room:
        room = self.find_room(room_name)
        if user.key not in room.members:
            raise errors.NotInRoom(f"You are not in {room.name}.")
        return room

    def _leave(self, user: User, room: Room) -> None:
        del room.members[user.key]
        del user.rooms[room.key]
        if not room.members:
            del self._rooms[room.key]

    @staticmethod
    def _neighbours(user: User) -> list[User]:
        """Everyone else who shares at least one room with C{user}, once each."""
        seen: dict[int, User] = {}
        for room in user.rooms.values():
            for member in room.members.values():
                seen[id(member)] = member
        seen.pop(id(user), None)
        return list(seen.values())

    @staticmethod
    def _fan_out(event: Event, recipients: Iterable[User]) -> None:
        rendered: dict[object, bytes] = {}
        # A copy: sending may drop a member (a full send queue), which signs
        # them out and changes the room being iterated over.
        for member in list(recipients):
            client = member.client
            renderer = client.renderer
            data = rendered.get(renderer)
            if data is None:
                data = rendered[renderer] = renderer(event)
            if data:
                client.send(data)
