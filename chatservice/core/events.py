"""
Everything that happens in a room or between two people, as immutable events.

Events are protocol-neutral: each front end renders them into its own wire
format.  Every event has an id and the time it happened, so that history
stores and later front ends can order and replay them.  Ids increase and stay
unique across restarts: the hub makes each the time in microseconds, or one
more than the last id if that is later.  An id is also IRC's C{msgid}.
"""

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """
    How a person said something: plainly, as an action (C{/me}), or as a
    notice that automatic replies must never answer.
    """

    SAY = "say"
    ACTION = "action"
    NOTICE = "notice"


@dataclass(frozen=True, slots=True)
class Source:
    """
    Who did something, as they were at that moment.

    @ivar nick: the nickname.
    @ivar user: the user name (IRC's ident); front ends without one use the
        nickname.
    @ivar host: the host the person is shown as coming from.
    @ivar bot: whether the person says they are a bot (IRC's +B).
    @ivar account: the account they were logged in to, or "".
    """

    nick: str
    user: str
    host: str
    bot: bool = False
    account: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    time: float


@dataclass(frozen=True, slots=True)
class Message(Event):
    """
    Somebody said something to a room.

    @ivar status: C{""} for everyone in the room; C{"@"} for its operators
        only, C{"+"} for its operators and voiced members (IRC's STATUSMSG).
    """

    source: Source
    room: str
    text: str
    kind: Kind
    status: str = ""


@dataclass(frozen=True, slots=True)
class PrivateMessage(Event):
    """Somebody said something to one other person."""

    source: Source
    target: str
    text: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class Joined(Event):
    """Somebody joined a room (C{realname}: theirs, for IRC's extended-join)."""

    source: Source
    room: str
    realname: str = ""


@dataclass(frozen=True, slots=True)
class Parted(Event):
    """Somebody left a room but stayed on the server."""

    source: Source
    room: str
    reason: str


@dataclass(frozen=True, slots=True)
class Quit(Event):
    """Somebody left the server, and with it every room they were in."""

    source: Source
    reason: str


@dataclass(frozen=True, slots=True)
class NickChanged(Event):
    """Somebody is now known by another nickname."""

    source: Source
    new_nick: str


@dataclass(frozen=True, slots=True)
class TopicChanged(Event):
    """Somebody changed (or cleared, with an empty topic) a room's topic."""

    source: Source
    room: str
    topic: str


@dataclass(frozen=True, slots=True)
class Kicked(Event):
    """A room operator removed somebody from a room."""

    source: Source
    room: str
    target: str
    reason: str


@dataclass(frozen=True, slots=True)
class ModeChanged(Event):
    """A room operator changed some of a room's modes."""

    source: Source
    room: str
    changes: tuple  # of rooms.ModeChange


@dataclass(frozen=True, slots=True)
class Invited(Event):
    """Somebody invited C{target} to a room."""

    source: Source
    room: str
    target: str


@dataclass(frozen=True, slots=True)
class AccountChanged(Event):
    """Somebody logged in to an account (C{account}), or out (C{account} empty)."""

    source: Source
    account: str


@dataclass(frozen=True, slots=True)
class AwayChanged(Event):
    """Somebody went away (with a message) or came back (message empty)."""

    source: Source
    message: str


@dataclass(frozen=True, slots=True)
class Redacted(Event):
    """
    Somebody removed a message (C{target_id}, its id) from a room: it is gone
    from history, and front ends stop showing it.  Not kept in history.
    """

    source: Source
    room: str
    target_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class RoomRenamed(Event):
    """A room operator gave a room a new name; its history moved with it."""

    source: Source
    room: str
    new_name: str
    reason: str


# Client tags: metadata a sender attaches to what it says (IRC's client-only
# message tags: a reply to a message, a reaction, "typing..."), as (name,
# value) pairs.  They travel with the message to everyone concerned and are
# never kept; a front end with no way to show them ignores them.
Tags = tuple[tuple[str, str], ...]


# Events that exist only while they are handed out: history keeps the plain
# message, without its tags.

@dataclass(frozen=True, slots=True)
class TaggedMessage(Message):
    """A L{Message} with the client tags its sender attached; history keeps the plain one."""

    tags: Tags = ()


@dataclass(frozen=True, slots=True)
class TaggedPrivateMessage(PrivateMessage):
    """A L{PrivateMessage} with the client tags its sender attached."""

    tags: Tags = ()


# A message of several lines (IRC's draft/multiline): each line's text, and
# whether it continues the line before it (no line break between them).
Lines = tuple[tuple[str, bool], ...]


@dataclass(frozen=True, slots=True)
class MultilineMessage(TaggedMessage):
    """
    A message of several C{lines} to a room; C{text} is all of it on one
    line (what history keeps, and what front ends that show only one line
    show).
    """

    lines: Lines = ()


@dataclass(frozen=True, slots=True)
class MultilinePrivateMessage(TaggedPrivateMessage):
    """A L{MultilineMessage} to one person."""

    lines: Lines = ()


@dataclass(frozen=True, slots=True)
class Signal(Event):
    """
    Client tags sent on their own to a room or a person (IRC's TAGMSG: typing
    notifications, reactions), under the rules for speaking there.

    @ivar target: the room's name or the person's nick.
    """

    source: Source
    target: str
    tags: Tags


@dataclass(frozen=True, slots=True)
class FileShared(Message):
    """
    Somebody shared a file in a room: an action whose text names the file
    and its link (C{shared report.pdf (1.2 MB): https://.../files/ID/report.pdf}),
    so that every front end shows it as it shows actions; history keeps the
    plain message.  C{file_id} lets a front end that knows files do more.
    """

    file_id: str = ""


@dataclass(frozen=True, slots=True)
class PrivateFileShared(PrivateMessage):
    """Somebody shared a file with one other person (see L{FileShared})."""

    file_id: str = ""


@dataclass(frozen=True, slots=True)
class RealnameChanged(Event):
    """Somebody changed their real name (IRC's SETNAME)."""

    source: Source
    realname: str


@dataclass(frozen=True, slots=True)
class Wallops(Event):
    """A server operator's message to everyone who asked for such messages."""

    source: Source
    text: str


@dataclass(frozen=True, slots=True)
class PresenceChanged(Event):
    """
    A nickname somebody watches (IRC's MONITOR) came online or went offline;
    C{source} is who holds (or last held) it.
    """

    source: Source
    online: bool


@dataclass(frozen=True, slots=True)
class JoinedTogether(Event):
    """
    People joined a room one after another, within one reactor turn and with
    nothing else said or done between their joins: handed (never kept:
    history has each L{Joined}) to front ends whose renderer says it
    announces such joins in one line (see L{chatservice.core.arrivals}).

    @ivar joins: the joins, in the order they happened (two or more).
    """

    room: str
    joins: tuple[Joined, ...]

    @property
    def source(self) -> Source:
        """Who joined first."""
        return self.joins[0].source
