"""
What the hub remembers: the history of rooms and the state of rooms, as the
interfaces a store implements, and the rules that say who may read what.

The hub records every event it creates for a room (messages, joins, parts,
quits, kicks, nick, topic and mode changes) through L{EventRecorder.record}:
one call on the fan-out hot path, which must only queue.  A store writes the
events later, in batches, and answers reads with Deferreds, so that nothing
here ever waits on a disk.

L{History} is what front ends call to read: it checks that the reader may see
the room (its members only), applies the server's visibility rule
(everything, or only what was said since the reader joined), clamps limits and
rate-limits each reader.  A front end only renders what comes back.

Private messages are recorded for each of the two people who is logged in
to an account, in that account's own copy of the conversation (its
I{mailbox} with the other's nick, L{mailbox_key}), and read back only by that
account: a nickname alone does not prove who reads them later, so nothing is
kept for someone who is not logged in.  They are kept as L{Message} events
whose C{room} is the recipient's nick.

A TAGMSG (L{Signal}) is kept like a message when its tags say something worth
reading later (a reaction, a reply); typing notifications are not
(L{kept_signal}).  Readers that take only messages never get it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Sequence

from twisted.internet.defer import Deferred, gatherResults, succeed

from . import errors, names
from .events import Event, ModeChanged
from .limits import TokenBucket
from .rooms import Ban, ModeChange, RoomMode

if TYPE_CHECKING:
    from .hub import Hub, User


# What a reader may ask for in one request, whatever the front end.
MAX_LIMIT = 1000
# History requests one reader may make at once, then per second.
REQUEST_BURST = 20
REQUEST_RATE = 2.0
SEARCH_LIMIT = 20


@dataclass(frozen=True, slots=True)
class Point:
    """
    A place in a room's history: an event's id (IRC's C{msgid}) or a time
    (seconds since the epoch).  Exactly one of the two is set.
    """

    id: int | None = None
    time: float | None = None

    def __post_init__(self) -> None:
        if (self.id is None) == (self.time is None):
            raise ValueError("a Point is an id or a time, not both or neither")


@dataclass(frozen=True, slots=True)
class Query:
    """
    Which events of one room to read.

    @ivar after: only events after this point (exclusive), if given.
    @ivar before: only events before this point (exclusive), if given.
    @ivar limit: at most this many events.
    @ivar newest: when more events match than C{limit}, keep the newest
        (C{True}: LATEST, BEFORE) or the oldest (C{False}: AFTER).
    @ivar messages_only: only L{Message} events (messages, actions and
        notices), not joins, parts, quits, kicks, nick, topic or mode changes.
    @ivar floor: only events whose id is at least this (the reader's own join
        under since-join visibility); 0 for no floor.

    Whatever is kept, results come in the order the events happened.
    """

    limit: int
    after: Point | None = None
    before: Point | None = None
    newest: bool = True
    messages_only: bool = False
    floor: int = 0


@dataclass(frozen=True, slots=True)
class RoomState:
    """
    What outlives a room's members: everything its operators set.  Room
    operators are not kept (accounts will make them persistent).

    @ivar flags: the room's flags, as L{RoomMode} values.
    @ivar bans: the ban list (mutes included), in the order the bans were set.
    @ivar exceptions: the invite exceptions, in the order they were set.
    @ivar ban_exceptions: the ban exceptions, in the order they were set.
    """

    name: str
    created: float
    topic: str = ""
    topic_by: str = ""
    topic_time: float = 0.0
    flags: frozenset[RoomMode] = frozenset()
    password: str | None = None
    limit: int | None = None
    bans: tuple[Ban, ...] = ()
    exceptions: tuple[Ban, ...] = ()
    ban_exceptions: tuple[Ban, ...] = ()


class EventRecorder(Protocol):
    """What the hub needs to remember a room's events."""

    def record(self, room: str, event: Event) -> None:
        """
        Remember C{event} as part of the history of the room whose folded
        name is C{room}.  Never blocks: an implementation queues, and drops
        (and counts) what it cannot keep up with.
        """


class HistoryStore(EventRecorder, Protocol):
    """Reading a room's history back."""

    def last_id(self) -> int:
        """
        The highest event id ever stored, or 0.  Read once at start-up,
        before the reactor runs, so that ids keep increasing across restarts.
        """

    def query(self, room: str, query: Query) -> Deferred[list[Event]]:
        """The events of C{room} that C{query} selects, oldest first."""

    def search(self, room: str, words: str, limit: int,
               floor: int = 0) -> Deferred[list[Event]]:
        """
        The newest C{limit} messages of C{room} that contain every one of
        C{words} (case-insensitive), oldest first.
        """

    def targets(self, rooms: Sequence[str], start: float, end: float,
                limit: int) -> Deferred[list[tuple[str, float]]]:
        """
        Of C{rooms} (history keys), those whose latest message is between the
        times C{start} and C{end} (either order, both excluded), with its
        time, earliest first, at most C{limit}.
        """

    def keys_starting(self, prefix: str) -> Deferred[list[str]]:
        """The history keys that start with C{prefix} (a non-empty string), in order."""


class HistoryEditor(Protocol):
    """Changing what a room's history holds (queued, like recording)."""

    def forget_event(self, room: str, event_id: int) -> None:
        """Remove the event C{event_id} from the history of the room C{room} (redaction)."""

    def move_history(self, room: str, new_room: str, new_name: str) -> None:
        """
        Make the history of the room C{room} that of C{new_room} (a rename),
        its events now naming the room C{new_name}.
        """


class RoomStore(Protocol):
    """Rooms that outlive their members and restarts."""

    def load_rooms(self) -> list[RoomState]:
        """Every room kept; called once at start-up, before the reactor runs."""

    def save_room(self, key: str, state: RoomState) -> None:
        """Keep C{state} for the room whose folded name is C{key} (queued)."""

    def forget_room(self, key: str) -> None:
        """Stop keeping the room whose folded name is C{key} (queued)."""


class Store(HistoryStore, HistoryEditor, RoomStore, Protocol):
    """
    Everything the hub keeps, behind one object.

    @ivar stored: events written so far.
    @ivar dropped: events that could not be kept (a full queue, a full
        disk); the server went on without them.
    """

    stored: int
    dropped: int

    def close(self) -> None:
        """Write what is queued and let go of the storage (at shutdown)."""


def mailbox_prefix(account: str) -> str:
    """
    What the history keys of C{account}'s private conversations start with:
    no room's key can (rooms start with '#').
    """
    return "@" + names.fold(account) + ">"


def mailbox_key(account: str, nick: str) -> str:
    """
    The history key of C{account}'s own copy of its private conversation
    with whoever used C{nick}.
    """
    return mailbox_prefix(account) + names.fold(nick)


# Client tags that only say what is going on now (IRCv3 typing): a TAGMSG
# with nothing else is not kept.
PASSING_TAGS = frozenset({"+typing", "+draft/typing"})


def kept_signal(tags: Sequence[tuple[str, str]]) -> bool:
    """Whether history keeps a TAGMSG with these client tags."""
    return any(name.startswith("+") and name not in PASSING_TAGS for name, _ in tags)


def is_person(target: str) -> bool:
    """Whether a history target names a person (a nick), not a room."""
    return not target.startswith("#") and names.nick_problem(target) is None


def contains_words(text: str, words: str) -> bool:
    """
    Whether C{text} contains every one of C{words}, anywhere, case-folded:
    what a history search matches, whichever store answers it.
    """
    text = text.casefold()
    return all(word in text for word in words.casefold().split())


def stored_form(event: Event) -> Event:
    """
    The event as history keeps it: a room password set by a mode change is
    replaced by C{*}, as it is for people outside the room.
    """
    if isinstance(event, ModeChanged) and any(
            c.mode is RoomMode.KEY and c.adding for c in event.changes):
        changes = tuple(ModeChange(True, RoomMode.KEY, "*")
                        if c.mode is RoomMode.KEY and c.adding else c
                        for c in event.changes)
        return ModeChanged(event.id, event.time, event.source, event.room, changes)
    return event


class History:
    """
    Reading history on behalf of a signed-in person, whatever their front
    end: access, visibility, limits and rate are checked here, once.

    @ivar replay_lines: how many messages a front end replays on joining a
        room when the client does not fetch history itself.
    """

    def __init__(self, hub: Hub, store: HistoryStore, replay_lines: int = 15, max_limit: int = MAX_LIMIT,
                 request_rate: float = REQUEST_RATE, request_burst: int = REQUEST_BURST):
        self.hub = hub
        self.store = store
        self.replay_lines = replay_lines
        self.max_limit = max_limit
        self._rate = request_rate
        self._burst = request_burst

    def scope(self, user: User, room_name: str) -> tuple[str, int]:
        """
        The folded name of a room whose history C{user} may read, and the
        lowest event id they may see in it.

        @raise errors.ChatError: not a room's name, or C{user} is not in it.
        """
        key = names.fold(room_name)
        problem = names.room_problem(room_name)
        if problem:
            raise errors.InvalidRoomName(problem, room_name)
        return key, self.hub.history_floor(user, room_name)

    def _take_request(self, user: User) -> None:
        bucket = user.history_bucket
        if bucket is None:
            bucket = user.history_bucket = TokenBucket(self.hub.clock, self._rate, self._burst)
        if not bucket.take():
            raise errors.RateLimited(
                f"Too many history requests; try again in {max(1, round(bucket.wait()))} s.")

    def clamp(self, limit: int) -> int:
        """A requested number of events, brought within 1 and the maximum."""
        return max(1, min(int(limit), self.max_limit))

    def _private(self, user: User, nick: str, read) -> Deferred[list[Event]]:
        """
        C{read(key)} on the copy that C{user}'s account keeps of its
        conversation with C{nick}; nothing when C{user} is not logged in.
        """
        self._take_request(user)
        if not user.account:
            return _nothing()
        return read(mailbox_key(user.account, nick))

    def query(self, user: User, room_name: str, query: Query) -> Deferred[list[Event]]:
        """
        Read C{query} from a room's history for C{user} (or, for a nick, from
        their private conversation); the limit is clamped to the maximum.
        Refusals are raised at once, before any read.
        """
        if is_person(room_name):
            wanted = _with(query, self.clamp(query.limit), 0)
            return self._private(user, room_name, lambda key: self.store.query(key, wanted))
        key, floor = self.scope(user, room_name)
        self._take_request(user)
        return self.store.query(key, _with(query, self.clamp(query.limit), floor))

    def around(self, user: User, room_name: str, point: Point,
               limit: int, messages_only: bool = False) -> Deferred[list[Event]]:
        """
        Up to C{limit} events around C{point}: half before it, the rest from
        it on (the event at C{point} included, when it is an id); only
        messages if C{messages_only}.
        """
        if is_person(room_name):
            return self._private(user, room_name, lambda key: self._around(
                key, 0, point, self.clamp(limit), messages_only))
        key, floor = self.scope(user, room_name)
        self._take_request(user)
        return self._around(key, floor, point, self.clamp(limit), messages_only)

    def _around(self, key: str, floor: int, point: Point, limit: int,
                messages_only: bool) -> Deferred[list[Event]]:
        before_count = limit // 2
        if point.id is not None:
            start = Point(id=point.id - 1)
        else:
            start = point
        earlier = (self.store.query(key, Query(before_count, before=point,
                                               messages_only=messages_only, floor=floor))
                   if before_count else _nothing())
        later = self.store.query(key, Query(limit - before_count, after=start, newest=False,
                                            messages_only=messages_only, floor=floor))
        return gatherResults([earlier, later], consumeErrors=True).addCallback(
            lambda results: results[0] + results[1])

    def replay(self, user: User, room_name: str, before_id: int) -> Deferred[list[Event]]:
        """
        The messages a front end shows someone who just joined a room: the
        last C{replay_lines} said before their join (C{before_id}).  Not
        rate-limited: joining is.
        """
        key, floor = self.scope(user, room_name)
        if self.replay_lines <= 0:
            return _nothing()
        return self.store.query(key, Query(self.replay_lines, before=Point(id=before_id),
                                           messages_only=True, floor=floor))

    def search(self, user: User, room_name: str, words: str,
               limit: int = SEARCH_LIMIT) -> Deferred[list[Event]]:
        """The newest messages of a room containing every one of C{words}."""
        key, floor = self.scope(user, room_name)
        words = " ".join(words.split())
        if not words:
            raise errors.EmptyMessage("Search for what?")
        self._take_request(user)
        return self.store.search(key, words, self.clamp(limit), floor)

    def targets(self, user: User, start: float, end: float,
                limit: int) -> Deferred[list[tuple[str, float]]]:
        """
        The rooms C{user} is in and the people their account has private
        conversations with, whose latest message was between C{start} and
        C{end} (exclusive), with its time, as (name, time) pairs, earliest
        first.
        """
        self._take_request(user)
        shown = {room.key: room.name for room in user.rooms.values()}
        prefix = mailbox_prefix(user.account) if user.account else ""
        keys = self.store.keys_starting(prefix) if prefix else succeed([])

        def name(key: str) -> str:
            if key in shown:
                return shown[key]
            nick = key[len(prefix):]
            try:
                return self.hub.find_user(nick).nick
            except errors.NoSuchNick:
                return nick

        def read(mailboxes: list[str]) -> Deferred[list[tuple[str, float]]]:
            return self.store.targets(sorted(shown) + mailboxes, start, end, self.clamp(limit))
        return keys.addCallback(read).addCallback(
            lambda pairs: [(name(key), when) for key, when in pairs])


def _with(query: Query, limit: int, floor: int) -> Query:
    return Query(limit, query.after, query.before, query.newest, query.messages_only,
                 max(query.floor, floor))


def _nothing() -> Deferred[list[Event]]:
    return succeed([])
