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

from collections import deque
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Iterable, Mapping, Protocol

from twisted.internet.defer import Deferred

from twisted.internet.interfaces import IReactorTime

from . import errors, names, readmarkers, text
from .events import (
    AccountChanged,
    AwayChanged,
    Event,
    FileShared,
    Invited,
    Joined,
    Kicked,
    Kind,
    Lines,
    Message,
    ModeChanged,
    MultilineMessage,
    MultilinePrivateMessage,
    NickChanged,
    Parted,
    PrivateFileShared,
    PrivateMessage,
    Quit,
    RealnameChanged,
    Redacted,
    RoomRenamed,
    Signal,
    Source,
    TaggedMessage,
    TaggedPrivateMessage,
    Tags,
    TopicChanged,
    Wallops,
)
from .accounts import Accounts
from .arrivals import Arrivals, merges_joins
from .founders import RoomRoles
from .history import History, Point, Query, Store, kept_signal, mailbox_key, stored_form
from .monitor import Watchlist
from .operators import Operators
from .rooms import FLAGS, MEMBER_MODES, Audience, ModeChange, Room, RoomMode, normalize_mask
from .stats import ChatStats

TOPIC_MAX_LENGTH = 390
REASON_MAX_LENGTH = 300
REALNAME_MAX_LENGTH = 100
AWAY_MAX_LENGTH = 300
WHOWAS_KEPT = 200
ROOMS_PER_USER = 50
DEFAULT_ROOM_MODES = frozenset({RoomMode.TOPIC_LOCKED, RoomMode.NO_OUTSIDE})

# The list modes, each with the Room methods that add and remove a mask.
MASK_LISTS = {
    RoomMode.BAN: (Room.add_ban, Room.remove_ban),
    RoomMode.INVITE_EXCEPTION: (Room.add_exception, Room.remove_exception),
    RoomMode.BAN_EXCEPTION: (Room.add_ban_exception, Room.remove_ban_exception),
}


def send_to_each(sends: list, data: bytes, skip: object = None) -> None:
    """
    Give C{data} to each of C{sends} but C{skip}, one call each: how a
    room's members who share a renderer get an event, unless a front end
    has given the hub a way that shares a turn's output among them (see
    L{Hub.send_to_group}).
    """
    for send in sends:
        if send is not skip:
            send(data)


class Client(Protocol):
    """
    What the hub needs from a connection: a renderer shared by every client
    of the same wire format, and a way to send it bytes.  A client that can
    MONITOR also has C{watched(event)} (see L{chatservice.core.monitor}).
    """

    renderer: Callable[[Event], bytes]

    def send(self, data: bytes) -> None: ...


# The rooms of someone in none, shared: an IRC user who joins nothing (most
# idle connections) holds no dictionary of their own.
NO_ROOMS: Mapping[str, Room] = MappingProxyType({})


class User:
    """
    A person signed in to the hub, through one connection.
    """

    __slots__ = ("nick", "key", "username", "host", "realname", "client", "rooms",
                 "signed_on", "last_spoke", "away", "is_operator", "invisible",
                 "history_bucket", "read_markers", "metadata", "bot", "wallops", "account")

    def __init__(self, nick: str, username: str, host: str, client: Client, now: float,
                 realname: str = ""):
        self.nick = nick
        self.key = names.fold(nick)
        self.username = username
        self.host = host
        self.realname = realname or nick
        self.client = client
        self.rooms: dict[str, Room] | Mapping[str, Room] = NO_ROOMS  # a dict once they join
        self.signed_on = now
        self.last_spoke = now
        self.away = ""
        self.is_operator = False
        self.invisible = False
        self.history_bucket = None  # made on the first history request
        self.read_markers: dict[str, int] | None = None  # see core.readmarkers
        self.metadata: dict[str, str] | None = None  # see core.metadata
        self.bot = False  # says it is a bot (IRC's +B)
        self.wallops = False  # takes operators' WALLOPS (IRC's +w)
        self.account: str | None = None  # the account's name, once logged in

    @property
    def source(self) -> Source:
        return Source(self.nick, self.username, self.host, bot=self.bot,
                      account=self.account or "")

    def __repr__(self) -> str:
        return f"<User {self.nick}>"


@dataclass(frozen=True, slots=True)
class Departed:
    """Who used a nickname that is no longer in use, for WHOWAS."""

    nick: str
    username: str
    host: str
    realname: str
    time: float


def _positive(argument: str | None) -> int | None:
    """C{argument} as a whole number above zero in ASCII digits, or C{None}."""
    if not argument or not argument.isascii() or not argument.isdigit():
        return None
    try:
        number = int(argument)
    except ValueError:  # more digits than Python converts
        return None
    return number if number > 0 else None


def _is_token(argument: str | None) -> bool:
    """
    Whether C{argument} can be a room password or a ban mask: one word that
    every front end can carry (no spaces or commas, not starting with ':').
    """
    return bool(argument) and argument.isprintable() and not any(
        c.isspace() or c == "," for c in argument) and not argument.startswith(":")


def _reason(reason: str) -> str:
    return text.clean(reason)[:REASON_MAX_LENGTH]


class Hub:
    """
    The users and rooms of one chat server.

    @ivar name: the server's name, shown to people when they connect.
    @ivar default_room: the room everybody joins on signing in.
    @ivar room_modes: the flags a new room starts with.
    @ivar operators: the server operators' credentials.
    @ivar store: where room events and rooms are kept, if anywhere: with a
        store, rooms whose operators set something outlive their members and
        restarts, and C{history} reads what was said.
    @ivar history: reading rooms' history, with a store; else C{None}.
    @ivar reloader: what reloads the server's configuration for an operator
        (C{.label}, and C{.reload(asked_by)} returning a Deferred), if the
        server can.
    @ivar stats: counts of messages and deliveries, for monitoring.
    """

    reloader = None

    def __init__(self, clock: IReactorTime, name: str = "chatservice",
                 default_room: str = "#lobby",
                 room_modes: frozenset[RoomMode] = DEFAULT_ROOM_MODES,
                 operators: Operators | None = None,
                 store: Store | None = None, since_join: bool = False,
                 replay_lines: int = 15):
        problem = names.room_problem(default_room)
        if problem:
            raise errors.InvalidRoomName(problem)
        self.clock = clock
        self.name = name
        self.default_room = default_room
        self.room_modes = frozenset(room_modes) & FLAGS
        self.operators = operators or Operators()
        self.started = clock.seconds()
        self.stats = ChatStats()
        self._users: dict[str, User] = {}
        self._rooms: dict[str, Room] = {}
        self._whowas: deque[Departed] = deque(maxlen=WHOWAS_KEPT)
        # Kept as counts so that telling a new client about the server
        # (IRC's LUSERS) does not walk every user.
        self.operator_count = 0
        self.invisible_count = 0
        # The most people signed in at once since the server started.
        self.peak_user_count = 0
        # Under since-join visibility, each room remembers the id of each
        # member's join; otherwise nothing is kept per membership.
        self.since_join = since_join
        self.history: History | None = None
        self.store: Store | None = None
        # Shared files (chatservice.core.files.Files), with a web front end.
        self.files = None
        # Accounts, once the service has opened them (None: no accounts),
        # and the rooms' founders and operators by account.
        self.accounts: Accounts | None = None
        self.room_roles: RoomRoles | None = None
        self._last_id = 0
        # Who watches which nicknames (MONITOR), across front ends.
        self.watchlist = Watchlist()
        # Joins held to be announced together to line clients (see core.arrivals).
        self.arrivals = Arrivals(clock, self._count_deliveries)
        # How one event's bytes reach a room's members who share a renderer
        # (a list of their sends, and the one not to give it to, if any).
        # Front ends that queue output per reactor turn replace it with one
        # that shares a turn's output among the members (see
        # chatservice.frontends.broadcast); its calls are this one's.
        self.send_to_group: Callable[[list, bytes, object], None] = send_to_each
        if store is not None:
            self.attach_store(store, since_join, replay_lines)

    def attach_store(self, store: Store, since_join: bool = False,
                     replay_lines: int = 15) -> None:
        """
        Keep room events and rooms in C{store} from now on: ids continue
        after the last one it holds, and the rooms it kept exist again,
        empty.  Done once, before anybody signs in.
        """
        self.store = store
        self.since_join = since_join
        self.history = History(self, store, replay_lines)
        self._last_id = max(self._last_id, store.last_id())
        for state in store.load_rooms():
            room = Room.from_state(state)
            room.stored = True
            self._rooms.setdefault(room.key, room)

    # Looking things up

    @property
    def user_count(self) -> int:
        return len(self._users)

    @property
    def room_count(self) -> int:
        return len(self._rooms)

    def users(self) -> list[User]:
        return list(self._users.values())

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

    def find_user(self, nick: str) -> User:
        user = self._users.get(names.fold(nick))
        if user is None:
            raise errors.NoSuchNick(f"Nobody is called {nick}.", nick)
        return user

    def find_room(self, name: str) -> Room:
        room = self._rooms.get(names.fold(name))
        if room is None:
            raise errors.NoSuchRoom(f"There is no room called {name}.", name)
        return room

    def whowas(self, nick: str) -> list[Departed]:
        """Who recently used C{nick}, most recent first."""
        key = names.fold(nick)
        return [d for d in reversed(self._whowas) if names.fold(d.nick) == key]

    # Signing in and out, and nicknames

    def register(self, nick: str, client: Client, username: str | None = None,
                 host: str = "", realname: str = "") -> User:
        """
        Sign a new person in under C{nick}.

        @raise errors.ErroneousNick: the nickname breaks the rules.
        @raise errors.NickInUse: somebody already has it.
        """
        self._check_nick_free(nick)
        user = User(nick, username or nick, host, client, self.clock.seconds(),
                    text.clean(realname)[:REASON_MAX_LENGTH])
        self._users[user.key] = user
        self.peak_user_count = max(self.peak_user_count, len(self._users))
        self.watchlist.presence(user, True, self._stamp)
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
        now = self.clock.seconds()
        event = NickChanged(self._id(now), now, user.source, new_nick)
        for room in user.rooms.values():
            self._record(room, event)
        if new_key != user.key:
            # Watchers of the old nick see it go; of the new one, arrive.
            self.watchlist.presence(user, False, self._stamp, skip=user)
        self._remember(user, now)
        old_key = user.key
        user.nick, user.key = new_nick, new_key
        del self._users[old_key]
        self._users[new_key] = user
        for room in user.rooms.values():
            del room.members[old_key]
            room.members[new_key] = user
        self._fan_out(event, self._neighbours(user))
        if new_key != old_key:
            self.watchlist.presence(user, True, self._stamp, skip=user)
        return event

    def quit(self, user: User, reason: str = "") -> Quit | None:
        """
        Sign C{user} out: they leave every room, everyone who shared one with
        them is told once, and their nickname is free at once.  Signing out
        twice does nothing the second time.
        """
        if self._users.get(user.key) is not user:
            return None
        now = self.clock.seconds()
        event = Quit(self._id(now), now, user.source, _reason(reason))
        rooms = list(user.rooms.values())
        # Someone in one room (a line user in #lobby) leaves behind that
        # room's audience: exactly whom to tell, each renderer once, without
        # a walk over the neighbours in Python.
        only = rooms[0] if len(rooms) == 1 else None
        neighbours = self._neighbours(user) if only is None else ()
        for room in rooms:
            self._record(room, event)
            self._leave(user, room)
        for room in self._rooms.values():
            room.invited.discard(user)
        del self._users[user.key]
        self.drop_operator(user)
        self.set_invisible(user, False)
        self._remember(user, now)
        if only is not None:
            self._tell_room(event, only.audience())
        else:
            self._fan_out(event, neighbours)
        self.watchlist.clear(user)
        self.watchlist.presence(user, False, self._stamp)
        return event

    def set_account(self, user: User, account: str | None) -> AccountChanged | None:
        """
        C{user} logged in to C{account} (or, with C{None}, out); the people
        who share a room with them are told (IRC's account-notify).
        """
        if account == user.account:
            return None
        user.account = account
        event = AccountChanged(*self._stamp(), user.source, account or "")
        self._fan_out(event, self._neighbours(user))
        return event

    def use_accounts(self, accounts: Accounts) -> None:
        """Give people accounts, and rooms founders, from now on."""
        self.accounts = accounts
        accounts.stats = self.stats
        self.room_roles = RoomRoles(self, accounts)

    def grant_operator(self, user: User, room_name: str,
                       adding: bool = True) -> ModeChanged | None:
        """
        Make C{user} an operator of a room they are in (or, not C{adding},
        no longer one), on the server's authority (their account's role in
        the room); everyone in the room is told.
        """
        room = self._membership(user, room_name)
        if room.is_operator(user) == adding:
            return None
        if adding:
            room.operators.add(user)
        else:
            room.operators.discard(user)
        event = ModeChanged(*self._stamp(), Source(self.name, "", ""), room.name,
                            (ModeChange(adding, RoomMode.OPERATOR, user.nick),))
        self._record(room, event)
        self._tell_room(event, room.audience())
        return event

    def ghost(self, nick: str, account: str, requester: User | None = None) -> User | None:
        """
        Free C{nick} for the holder of C{account}.  Asked by C{requester}
        (who proved the password), whoever else uses it is signed out
        ("ghosted"), a stale session of the same account too; on a login
        (no requester), only someone not logged in to that account is.
        Return who was, if anybody.
        """
        holder = self._users.get(names.fold(nick))
        if holder is None or holder is requester:
            return None
        if requester is None and holder.account is not None and (
                names.fold(holder.account) == names.fold(account)):
            return None
        self.quit(holder, f"Ghosted by the owner of {nick}")
        closer = getattr(holder.client, "close", None)
        if closer is not None:
            closer(f"Ghosted by the owner of {nick}")
        return holder

    def set_away(self, user: User, message: str) -> AwayChanged | None:
        """
        Mark C{user} away with C{message}, or back with an empty one; return
        the event, or C{None} when nothing changed.
        """
        away = text.clean(message).strip()[:AWAY_MAX_LENGTH]
        if away == user.away:
            return None
        user.away = away
        event = AwayChanged(*self._stamp(), user.source, away)
        neighbours = self._neighbours(user)
        self._fan_out(event, neighbours)
        self.watchlist.follow(user, event, neighbours)
        return event

    def set_realname(self, user: User, realname: str) -> RealnameChanged:
        """
        Give C{user} a new real name; those sharing a room with them and
        those watching them are told.

        @raise errors.TooLong: the name is empty or too long once cleaned.
        """
        realname = text.clean(realname).strip()
        if not realname or len(realname) > REALNAME_MAX_LENGTH:
            raise errors.TooLong(
                f"A real name has 1 to {REALNAME_MAX_LENGTH} characters.")
        user.realname = realname
        event = RealnameChanged(*self._stamp(), user.source, realname)
        neighbours = self._neighbours(user)
        self._fan_out(event, neighbours)
        self.watchlist.follow(user, event, neighbours)
        return event

    def set_bot(self, user: User, bot: bool) -> None:
        """Mark C{user} as a bot, or not: what they say from now on says so."""
        user.bot = bot

    def set_wallops(self, user: User, wanted: bool) -> None:
        """Whether C{user} takes server operators' WALLOPS messages."""
        user.wallops = wanted

    def wallops(self, user: User, message: str) -> Wallops:
        """As a server operator, tell everyone who takes WALLOPS C{message}."""
        if not user.is_operator:
            raise errors.NoPrivileges("Only server operators may do that.")
        event = Wallops(*self._stamp(), user.source, self._text(message))
        self._fan_out(event, [u for u in self._users.values()
                              if u.wallops and u is not user])
        return event

    # Rooms

    def join(self, user: User, room_name: str,
             password: str | None = None) -> tuple[Room, Joined | None]:
        """
        Put C{user} in the room called C{room_name}, creating it (with them as
        its operator) if needed.  The event is C{None} when they were already
        there.
        """
        now = self.clock.seconds()
        room = self._rooms.get(names.fold(room_name))
        created = room is None
        if created:
            problem = names.room_problem(room_name)
            if problem:
                raise errors.InvalidRoomName(problem)
            room = Room(room_name, now, self.room_modes)
        elif user.key in room.members:
            return room, None
        if len(user.rooms) >= ROOMS_PER_USER:
            raise errors.TooManyRooms(
                f"You are in {ROOMS_PER_USER} rooms already; leave one first.", room_name)
        # A kept room that nobody is in is joined as if new (its first
        # member runs it), but its password, bans and limits still hold,
        # except for server operators, who may have to reclaim it.
        empty = not room.members
        if not created and not (empty and user.is_operator):
            self._check_may_join(user, room, password)
        event = Joined(self._id(now), now, user.source, room.name, user.realname)
        # Join before telling the others: a member dropped while being told
        # must not leave the joiner in a room the hub has forgotten.
        if created:
            self._rooms[room.key] = room
        if empty:
            room.operators.add(user)
        room.add(user)
        room.invited.discard(user)
        if user.rooms is NO_ROOMS:
            user.rooms = {}
        user.rooms[room.key] = room
        if self.since_join:
            room.joined_ids[user] = event.id
        self._record(room, event)
        if self._tell_room(event, room.audience(), user, joining=True):
            self.arrivals.hold(room, user, event)
        if self.room_roles is not None:
            self.room_roles.joined(user, room, created)
        if user.away:
            # Someone away who joins: the room learns it as if they had
            # just set it (IRC's away-notify), without keeping it in history.
            self._tell_room(AwayChanged(*self._stamp(), user.source, user.away),
                            room.audience(), user)
        return room, event

    def part(self, user: User, room_name: str, reason: str = "") -> Parted:
        """
        Take C{user} out of a room; an empty room ceases to exist.
        """
        room = self._membership(user, room_name)
        event = Parted(*self._stamp(), user.source, room.name,
                       _reason(reason))
        self._record(room, event)
        self._leave(user, room)
        self._tell_room(event, room.audience())
        return event

    def kick(self, user: User, room_name: str, nick: str, reason: str = "") -> Kicked:
        """
        As an operator of a room, remove C{nick} from it; everyone in the
        room, C{nick} included, is told.
        """
        room = self._membership(user, room_name)
        self._check_operator(user, room)
        target = self._target_member(room, nick)
        event = Kicked(*self._stamp(), user.source, room.name,
                       target.nick, _reason(reason))
        # The kicked one is told too: take the audience before they leave.
        audience = room.audience()
        self._record(room, event)
        self._leave(target, room)
        self._tell_room(event, audience, user)
        return event

    def invite(self, user: User, nick: str, room_name: str) -> Invited:
        """
        Invite C{nick} to a room C{user} is in; in an invite-only room only
        operators may.  Only the invited person is told.
        """
        room = self._membership(user, room_name)
        target = self.find_user(nick)
        if room.is_member(target):
            raise errors.AlreadyInRoom(f"{target.nick} is already in {room.name}.")
        if RoomMode.INVITE_ONLY in room.flags:
            self._check_operator(user, room)
        room.invited.add(target)
        event = Invited(*self._stamp(), user.source, room.name,
                        target.nick)
        self._fan_out(event, (target,))
        return event

    def set_topic(self, user: User, room_name: str, topic: str) -> TopicChanged:
        """
        Set (or, with an empty C{topic}, clear) the topic of a room C{user}
        is in; in a topic-locked room only operators may.
        """
        room = self._membership(user, room_name)
        if RoomMode.TOPIC_LOCKED in room.flags:
            self._check_operator(user, room)
        topic = text.clean(topic).strip()
        if len(topic) > TOPIC_MAX_LENGTH:
            raise errors.TooLong(f"A topic has at most {TOPIC_MAX_LENGTH} characters.")
        now = self.clock.seconds()
        room.topic, room.topic_by, room.topic_time = topic, user.nick, now
        event = TopicChanged(self._id(now), now, user.source, room.name, topic)
        self._record(room, event)
        self._keep(room)
        self._tell_room(event, room.audience(), user)
        return event

    def change_modes(self, user: User, room_name: str,
                     changes: Iterable[ModeChange]) -> tuple[ModeChanged | None,
                                                             list[errors.ChatError]]:
        """
        As an operator of a room, apply C{changes}.  Changes that change
        nothing are dropped; a change that cannot apply (a nick not in the
        room) is reported without stopping the others.  Everyone in the room
        is told of the changes applied, in one event.
        """
        room = self._membership(user, room_name)
        self._check_operator(user, room)
        now = self.clock.seconds()
        applied: list[ModeChange] = []
        problems: list[errors.ChatError] = []
        for change in changes:
            try:
                done = self._apply(user, room, change, now)
            except errors.ChatError as problem:
                problems.append(problem)
                continue
            if done is not None:
                applied.append(done)
        if not applied:
            return None, problems
        event = ModeChanged(self._id(now), now, user.source, room.name, tuple(applied))
        self._record(room, event)
        if any(change.mode not in MEMBER_MODES for change in applied):
            self._keep(room)
        self._tell_room(event, room.audience(), user)
        if self.room_roles is not None:
            self.room_roles.modes_changed(user, room, applied)
        return event, problems

    # Editing a room's past: redaction and renaming

    def redact(self, user: User, room_name: str, event_id: int,
               reason: str = "") -> Deferred[Redacted]:
        """
        Remove the message C{event_id} from a room C{user} is in: from its
        history, and from what every member's front end shows.  Its sender
        (the same nick, user name and host), the room's operators and server
        operators may.  The answer comes once history has been read.

        @raise errors.NotInRoom: at once, if C{user} is not in the room.
        @return: a Deferred that fails with L{errors.UnknownEvent} (no such
            message in that room, or no history kept) or L{errors.NotYours}.
        """
        room = self._membership(user, room_name)
        if self.store is None:
            raise errors.UnknownEvent(f"No message {event_id} in {room.name}.")
        reading = self.store.query(room.key, Query(
            1, after=Point(id=event_id - 1), before=Point(id=event_id + 1),
            messages_only=True))
        # Who asks, and with what rights, is settled now: the redaction
        # still happens if they leave while history is read.
        source = user.source
        may_any = room.is_operator(user) or user.is_operator

        def found(events: list[Event]) -> Redacted:
            if not events or events[0].id != event_id:
                raise errors.UnknownEvent(f"No message {event_id} in {room.name}.")
            sender = events[0].source
            own = (names.fold(sender.nick) == names.fold(source.nick)
                   and sender.user == source.user and sender.host == source.host)
            if not (own or may_any):
                raise errors.NotYours(f"Only its sender or an operator of {room.name} "
                                      "may remove that message.")
            if self._rooms.get(room.key) is not room:
                raise errors.NoSuchRoom(f"{room.name} is gone.", room.name)
            event = Redacted(*self._stamp(), source, room.name, event_id,
                             _reason(reason))
            self.store.forget_event(room.key, event_id)
            self._tell_room(event, room.audience(), user if room.is_member(user) else None)
            return event

        return reading.addCallback(found)

    def rename_room(self, user: User, room_name: str, new_name: str,
                    reason: str = "") -> RoomRenamed:
        """
        As an operator of a room, give it C{new_name}: its members, modes and
        history move with it, and the old name is free.  Every member is
        told; a client that cannot show a rename is told in its own way
        (C{Client.room_renamed}, if it has one).
        """
        room = self._membership(user, room_name)
        self._check_operator(user, room)
        problem = names.room_problem(new_name)
        if problem:
            raise errors.InvalidRoomName(problem, new_name)
        old_key, new_key = room.key, names.fold(new_name)
        if new_key != old_key and new_key in self._rooms:
            raise errors.RoomExists(f"There is already a room called {new_name}.", new_name)
        event = RoomRenamed(*self._stamp(), user.source, room.name, new_name, _reason(reason))
        room.name, room.key = new_name, new_key
        if new_key != old_key:
            del self._rooms[old_key]
            self._rooms[new_key] = room
            for member in room.members.values():
                del member.rooms[old_key]
                member.rooms[new_key] = room
                readmarkers.renamed(member, old_key, new_key)
            if self.store is not None:
                self.store.move_history(old_key, new_key, new_name)
                if room.stored:
                    self.store.forget_room(old_key)
        if room.stored:
            self._keep(room)
        for member in list(room.members.values()):
            if member is user:
                continue
            personal = getattr(member.client, "room_renamed", None)
            if personal is not None:
                personal(event)
            else:
                data = member.client.renderer(event)
                if data:
                    member.client.send(data)
        return event

    # Messages

    def say(self, user: User, room_name: str, message: str,
            kind: Kind = Kind.SAY, tags: Tags = (), status: str = "") -> Message:
        """
        Say C{message} to everyone else in a room.  Unless the room refuses
        outside messages, the speaker need not be in it.  With client
        C{tags}, the event handed out is a L{TaggedMessage}; history keeps
        the message without them.  With a C{status} (C{"@"}: operators,
        C{"+"}: operators and voiced members) only those members are told,
        and history does not keep it.
        """
        room = self._room_to_speak_in(user, room_name)
        self._check_ctcp(room, message, kind)
        event = Message(*self._stamp(), user.source, room.name,
                        self._text(message), kind, status)
        user.last_spoke = event.time
        self.stats.room_messages += 1
        store = self.store
        if store is not None and not status:
            store.record(room.key, event)
        if tags:
            event = TaggedMessage(event.id, event.time, event.source, event.room,
                                  event.text, event.kind, status, tags)
        audience = room.audience()
        if status:
            audience = Audience(m for m in room.members.values() if room.is_operator(m)
                                or (status == "+" and m in room.voiced))
        self._tell_room(event, audience, user)
        return event

    def tell(self, user: User, nick: str, message: str,
             kind: Kind = Kind.SAY, tags: Tags = ()) -> PrivateMessage:
        """
        Say C{message} to one other person only, with client C{tags} if any.
        """
        target = self.find_user(nick)
        text_ = self._text(message)
        if tags:
            event: PrivateMessage = TaggedPrivateMessage(
                *self._stamp(), user.source, target.nick, text_, kind, tags)
        else:
            event = PrivateMessage(*self._stamp(), user.source, target.nick, text_, kind)
        user.last_spoke = event.time
        self.stats.private_messages += 1
        if target is not user:
            self._fan_out(event, (target,))
        self._keep_private(user, target, Message(event.id, event.time, event.source,
                                                 target.nick, text_, kind))
        return event

    def _keep_private(self, user: User, target: User, event: Event) -> None:
        """
        Keep what C{user} said to C{target} in the copy of their conversation
        of each of them who is logged in (once, for oneself; see core.history).
        """
        if self.store is None:
            return
        if user.account:
            self.store.record(mailbox_key(user.account, target.nick), event)
        if target.account and target is not user:
            self.store.record(mailbox_key(target.account, user.nick), event)

    def say_lines(self, user: User, target: str, lines: Lines, kind: Kind = Kind.SAY,
                  tags: Tags = ()) -> Message | PrivateMessage:
        """
        Say a message of several lines (each with whether it continues the
        line before) to a room, as L{say} does, or to a person, as L{tell}
        does.  History keeps it as one plain message, its lines joined.
        """
        cleaned = tuple((text.clean(line), concat) for line, concat in lines)
        joined = "".join(("" if concat or not index else " ") + line
                         for index, (line, concat) in enumerate(cleaned))
        joined = self._text(joined)
        if target.startswith("#"):
            room = self._room_to_speak_in(user, target)
            event = MultilineMessage(*self._stamp(), user.source, room.name, joined, kind,
                                     tags=tags, lines=cleaned)
            user.last_spoke = event.time
            if self.store is not None:
                self.store.record(room.key, Message(event.id, event.time, event.source,
                                                    event.room, joined, kind))
            self._tell_room(event, room.audience(), user)
            return event
        found = self.find_user(target)
        private = MultilinePrivateMessage(*self._stamp(), user.source, found.nick, joined,
                                          kind, tags=tags, lines=cleaned)
        user.last_spoke = private.time
        if found is not user:
            self._fan_out(private, (found,))
        self._keep_private(user, found, Message(private.id, private.time, private.source,
                                                found.nick, joined, kind))
        return private

    def signal(self, user: User, target: str, tags: Tags) -> Signal:
        """
        Send client C{tags} alone to a room (under the rules for speaking
        there) or to a person.  History keeps it as it keeps a message when
        the tags say more than typing (L{kept_signal}); it does not count as
        speaking.
        """
        if target.startswith("#"):
            room = self._room_to_speak_in(user, target)
            event = Signal(*self._stamp(), user.source, room.name, tags)
            if self.store is not None and kept_signal(tags):
                self.store.record(room.key, event)
            self._tell_room(event, room.audience(), user)
            return event
        found = self.find_user(target)
        event = Signal(*self._stamp(), user.source, found.nick, tags)
        if found is not user:
            self._fan_out(event, (found,))
        if kept_signal(tags):
            self._keep_private(user, found, event)
        return event

    def share_file(self, user: User, target: str, announcement: str,
                   file_id: str) -> Event:
        """
        Tell a room (under the rules for speaking there) or one person, and
        C{user} too, that C{user} shared a file: an action saying
        C{announcement}.  The upload came from elsewhere, so the uploader's
        own front end learns it like everyone else.  History keeps the room's
        plain message.
        """
        now = self.clock.seconds()
        if target.startswith("#"):
            room = self._room_to_speak_in(user, target)
            event: Event = FileShared(self._id(now), now, user.source, room.name,
                                      announcement, Kind.ACTION, file_id=file_id)
            if self.store is not None:
                self.store.record(room.key, Message(event.id, now, event.source, room.name,
                                                    announcement, Kind.ACTION))
            self._tell_room(event, room.audience())
            return event
        found = self.find_user(target)
        event = PrivateFileShared(self._id(now), now, user.source, found.nick,
                                  announcement, Kind.ACTION, file_id=file_id)
        self._fan_out(event, {id(u): u for u in (found, user)}.values())
        return event

    def _room_to_speak_in(self, user: User, room_name: str) -> Room:
        """The room called C{room_name}, if C{user} may speak there."""
        room = self.find_room(room_name)
        if not room.is_member(user) and RoomMode.NO_OUTSIDE in room.flags:
            raise errors.CannotSend(f"You must be in {room.name} to speak there.")
        if not room.may_speak(user):
            raise errors.CannotSend(f"You cannot speak in {room.name} now.")
        return room

    @staticmethod
    def _check_ctcp(room: Room, message: str, kind: Kind) -> None:
        """Refuse a CTCP request (not an action) in a room that forbids them."""
        if RoomMode.NO_CTCP in room.flags and kind is not Kind.ACTION \
                and message.startswith("\x01"):
            raise errors.CannotSend(f"{room.name} does not take CTCP requests.")

    # Server operators

    def become_operator(self, user: User, name: str, password: str) -> None:
        """Make C{user} a server operator if C{name} and C{password} match."""
        if not self.operators.check(name, password):
            self.stats.logins_failed += 1
            raise errors.PasswordMismatch("Wrong operator name or password.")
        if not user.is_operator:
            user.is_operator = True
            self.operator_count += 1

    def drop_operator(self, user: User) -> None:
        """C{user} is no longer a server operator."""
        if user.is_operator:
            user.is_operator = False
            self.operator_count -= 1

    def rehash(self, user: User):
        """
        As a server operator, reload the server's configuration; return a
        Deferred firing with a summary, or failing with L{errors.ReloadFailed}.
        """
        if not user.is_operator:
            raise errors.NoPrivileges("Only server operators may do that.")
        if self.reloader is None:
            raise errors.ReloadFailed("This server cannot reload its configuration.")
        return self.reloader.reload(f"operator {user.nick}")

    def set_invisible(self, user: User, invisible: bool) -> None:
        """Hide C{user} from wildcard searches by strangers, or stop hiding them."""
        if user.invisible != invisible:
            user.invisible = invisible
            self.invisible_count += 1 if invisible else -1

    def kill(self, user: User, nick: str, reason: str) -> tuple[User, Quit]:
        """As a server operator, disconnect C{nick}; return them and their Quit."""
        if not user.is_operator:
            raise errors.NoPrivileges("Only server operators may do that.")
        target = self.find_user(nick)
        reason = text.clean(reason)[:REASON_MAX_LENGTH - len(user.nick) - 20]
        event = self.quit(target, f"Killed by {user.nick} ({reason})")
        return target, event

    # Helpers

    def _id(self, now: float) -> int:
        """
        A new event id: the time in microseconds, or one more than the last
        id if that is later.  Ids so made keep increasing across restarts
        even when the last events before a crash were never stored.
        """
        stamp = int(now * 1_000_000)
        last = self._last_id + 1
        self._last_id = stamp = stamp if stamp > last else last
        return stamp

    def _stamp(self) -> tuple[int, float]:
        """A new event's id and time."""
        now = self.clock.seconds()
        return self._id(now), now

    def _record(self, room: Room, event: Event) -> None:
        """Add C{event} to C{room}'s history, if history is kept."""
        if self.store is not None:
            self.store.record(room.key, stored_form(event))

    def _keep(self, room: Room) -> None:
        """Save what C{room}'s operators set, if rooms are kept."""
        if self.store is not None:
            self.store.save_room(room.key, room.state())
            room.stored = True

    def history_floor(self, user: User, room_name: str) -> int:
        """
        The lowest event id C{user} may read in a room's history: 0 for all
        of it, or, under since-join visibility, the id of their own join.
        Only the room's members read it (as IRC's chathistory has it): who
        is outside learns nothing, not even whether the room exists.

        @raise errors.NotInRoom: C{user} is not in the room.
        """
        room = self._rooms.get(names.fold(room_name))
        if room is None or not room.is_member(user):
            raise errors.NotInRoom(
                f"You read the history of {room_name} only while you are in it.")
        return room.joined_ids.get(user, 0) if self.since_join else 0

    def _remember(self, user: User, now: float) -> None:
        self._whowas.append(Departed(user.nick, user.username, user.host,
                                     user.realname, now))

    def _check_nick_free(self, nick: str) -> None:
        problem = names.nick_problem(nick)
        if problem:
            raise errors.ErroneousNick(problem)
        if names.fold(nick) in self._users:
            raise errors.NickInUse(f"The nickname {nick} is taken.")

    @staticmethod
    def _check_may_join(user: User, room: Room, password: str | None) -> None:
        invited = user in room.invited
        if RoomMode.INVITE_ONLY in room.flags and not invited and not room.is_excepted(user):
            raise errors.InviteOnly(f"{room.name} is invite-only.")
        if room.password is not None and password != room.password:
            raise errors.BadRoomPassword(f"{room.name} needs the right password.")
        if not invited and room.limit is not None \
                and len(room.members) >= room.limit:
            raise errors.RoomFull(f"{room.name} is full.")
        if not invited and room.is_banned(user):
            raise errors.Banned(f"You are banned from {room.name}.")

    @staticmethod
    def _check_operator(user: User, room: Room) -> None:
        # Server operators may act as operators of any room.
        if not room.is_operator(user) and not user.is_operator:
            raise errors.NotOperator(f"You are not an operator of {room.name}.")

    def _target_member(self, room: Room, nick: str) -> User:
        target = self.find_user(nick)
        if not room.is_member(target):
            raise errors.TargetNotInRoom(f"{target.nick} is not in {room.name}.", target.nick)
        return target

    def _apply(self, user: User, room: Room, change: ModeChange,
               now: float) -> ModeChange | None:
        """Apply one mode change; return it as applied, or None if it changed nothing."""
        mode, adding, argument = change.mode, change.adding, change.argument
        if mode in FLAGS:
            if (mode in room.flags) == adding:
                return None
            (room.flags.add if adding else room.flags.discard)(mode)
            return ModeChange(adding, mode)
        if mode in MEMBER_MODES:
            target = self._target_member(room, argument or "")
            holders = room.operators if mode is RoomMode.OPERATOR else room.voiced
            if (target in holders) == adding:
                return None
            (holders.add if adding else holders.discard)(target)
            return ModeChange(adding, mode, target.nick)
        if mode is RoomMode.KEY:
            if adding:
                if not _is_token(argument) or argument == room.password:
                    return None
                room.password = argument
                return ModeChange(True, mode, argument)
            if room.password is None:
                return None
            room.password = None
            return ModeChange(False, mode, "*")
        if mode is RoomMode.LIMIT:
            if adding:
                limit = _positive(argument)
                if limit is None or limit == room.limit:
                    return None
                room.limit = limit
                return ModeChange(True, mode, str(room.limit))
            if room.limit is None:
                return None
            room.limit = None
            return ModeChange(False, mode)
        if mode in MASK_LISTS:
            if not _is_token(argument):
                return None
            mask = normalize_mask(argument)
            add, remove = MASK_LISTS[mode]
            changed = add(room, mask, user.nick, now) if adding else remove(room, mask)
            return ModeChange(adding, mode, mask) if changed else None
        return None

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

    def client_changed(self, user: User) -> None:
        """C{user}'s client now renders events differently (new capabilities)."""
        for room in user.rooms.values():
            room.changed()

    def _leave(self, user: User, room: Room) -> None:
        if self.arrivals:
            self.arrivals.flush()  # they saw the joins before they left
        room.forget(user)
        del user.rooms[room.key]
        if not room.members:
            # A room its operators set something in is kept for its next
            # members; any other empty room ceases to exist.
            if self.store is not None and room.worth_keeping(self.room_modes):
                return
            del self._rooms[room.key]
            if room.stored:
                self.store.forget_room(room.key)

    def neighbours(self, user: User) -> list[User]:
        """Everyone else who shares at least one room with C{user}, once each."""
        return self._neighbours(user)

    @staticmethod
    def _neighbours(user: User) -> list[User]:
        """Everyone else who shares at least one room with C{user}, once each."""
        if len(user.rooms) == 1:
            # The usual case (a line user in #lobby): no one to count twice.
            (room,) = user.rooms.values()
            members = room.members
            found = list(members.values())
            if members.get(user.key) is user:
                found.remove(user)
            return found
        seen: dict[int, User] = {}
        for room in user.rooms.values():
            for member in room.members.values():
                seen[id(member)] = member
        seen.pop(id(user), None)
        return list(seen.values())

    def _tell_room(self, event: Event, audience: Audience, skip: User | None = None,
                   joining: bool = False) -> bool:
        """
        Give C{event} to a room's audience but C{skip}.  This is the hot
        path: render once per renderer, then one call of C{send_to_group}
        per renderer; deliveries are counted per renderer, not per member.

        Joins held for announcing together go first.  C{joining}: C{event}
        is C{skip}'s join, which renderers that merge joins do not get now;
        return whether any of them is waiting for it (then the caller holds
        it in L{arrivals}).
        """
        if joining:
            held = False
        elif self.arrivals:
            self.arrivals.flush()
        skip_send = audience.send_of(skip.client) if skip is not None else None
        skip_renderer = skip.client.renderer if skip_send is not None else None
        delivered = 0
        send_to_group = self.send_to_group
        for renderer, sends in audience.groups:
            if len(sends) == 1 and sends[0] is skip_send:
                continue
            if joining and merges_joins(renderer):
                held = True
                continue
            data = renderer(event)
            if data:
                delivered += len(sends) - (renderer is skip_renderer)
                send_to_group(sends, data, skip_send)
        self.stats.deliveries += delivered
        return joining and held

    def _count_deliveries(self, delivered: int) -> None:
        self.stats.deliveries += delivered

    def _fan_out(self, event: Event, recipients: Iterable[User]) -> None:
        """Give C{event} to people outside one room (neighbours, one target)."""
        if self.arrivals:
            self.arrivals.flush()  # joins held come first
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
                self.stats.deliveries += 1
                client.send(data)
