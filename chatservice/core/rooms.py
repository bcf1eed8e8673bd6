"""
Rooms and what their operators control: flags, a key, a member limit, bans,
invitations, operators and voiced members.

These are IRC's channel modes in protocol-neutral form; the IRC front end maps
them to mode letters, the line front end to words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from . import names

if TYPE_CHECKING:
    from .history import RoomState
    from .hub import User


class RoomMode(Enum):
    """Everything about a room that its operators may change."""

    # Flags: set or not.
    TOPIC_LOCKED = "topic_locked"  # only operators change the topic
    NO_OUTSIDE = "no_outside"  # only members may speak in the room
    MODERATED = "moderated"  # only operators and voiced members may speak
    INVITE_ONLY = "invite_only"  # joining needs an invitation
    SECRET = "secret"  # the room is not listed to non-members
    NO_CTCP = "no_ctcp"  # no CTCP requests but actions (IRC's +C)
    # Settings with a value.
    KEY = "key"  # joining needs this password
    LIMIT = "limit"  # at most this many members
    # Lists.
    BAN = "ban"  # people matching a nick!user@host mask may not join or speak
    # People matching a mask may join an invite-only room uninvited (+I).
    INVITE_EXCEPTION = "invite_exception"
    # People matching a mask are not held by the bans (or, with m:, the
    # mutes) that match them (+e).
    BAN_EXCEPTION = "ban_exception"
    OPERATOR = "operator"  # a member who runs the room
    VOICE = "voice"  # a member who may speak when the room is moderated


FLAGS = frozenset({RoomMode.TOPIC_LOCKED, RoomMode.NO_OUTSIDE, RoomMode.MODERATED,
                   RoomMode.INVITE_ONLY, RoomMode.SECRET, RoomMode.NO_CTCP})
MEMBER_MODES = frozenset({RoomMode.OPERATOR, RoomMode.VOICE})


@dataclass(frozen=True, slots=True)
class ModeChange:
    """
    One change to a room: C{adding} or removing C{mode}, with the argument it
    needs (a nick, a mask, a key or a limit), if any.
    """

    adding: bool
    mode: RoomMode
    argument: str | None = None


@dataclass(frozen=True, slots=True)
class Ban:
    mask: str
    set_by: str
    time: float


# A ban whose mask starts with this mutes (IRC's mute extban, C{m:mask}):
# whoever matches may join the room but not speak in it.
MUTE_PREFIX = "m:"


def normalize_mask(mask: str) -> str:
    """
    Complete a partial ban mask: C{bob} means C{bob!*@*}, C{*@host} means
    C{*!*@host}; a mute (C{m:bob}) is completed after its prefix.
    """
    if mask[:2].lower() == MUTE_PREFIX and len(mask) > 2:
        return MUTE_PREFIX + normalize_mask(mask[2:])
    if "!" not in mask and "@" not in mask:
        return mask + "!*@*"
    if "!" not in mask:
        return "*!" + mask
    if "@" not in mask:
        return mask + "@*"
    return mask


def mask_matcher(mask: str) -> re.Pattern[str]:
    """A pattern for C{mask}, with C{*} and C{?} as wildcards, compared folded."""
    pattern = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char)
        for char in names.fold(mask)
    )
    return re.compile(pattern, re.DOTALL)


class Audience:
    """
    A room's clients, grouped by renderer: for each renderer, the C{send}
    of every client that uses it.

    An audience's groups are never changed once made: a member joining or
    leaving makes a new audience (L{with_member}, L{without}), so that a
    delivery walking an audience is not disturbed by the members it drops,
    and an event can go to an audience taken before somebody left (a kick).
    Only the changed group's list is copied, in C, rather than a walk over
    the members in Python: a sign-in to a room of 10,000 must not cost
    10,000 steps of Python.  A newcomer's C{send} goes at the end of its
    group.  The lookup behind L{send_of} is shared with the audience that
    comes of a join (copying it would cost a dictionary of every member per
    sign-in; an older audience then knows of a newcomer it does not hold,
    which is harmless), and copied for the one that comes of a departure,
    so that an audience taken before somebody left (a kick) still knows
    them.
    """

    __slots__ = ("groups", "_sends")

    def __init__(self, members=()):
        by_renderer: dict[object, list] = {}
        self._sends: dict[int, object] = {}
        for member in members:
            client = member.client
            send = client.send
            self._sends[id(client)] = send
            by_renderer.setdefault(client.renderer, []).append(send)
        self.groups = list(by_renderer.items())

    def send_of(self, client) -> object:
        """The C{send} listed for C{client}, or C{None}."""
        return self._sends.get(id(client))

    def with_member(self, client) -> Audience:
        """This audience and C{client} (not in it yet)."""
        send = client.send
        renderer = client.renderer
        audience = Audience()
        audience._sends = self._sends
        self._sends[id(client)] = send
        groups = self.groups.copy()
        for index, (known, sends) in enumerate(groups):
            if known is renderer:
                groups[index] = (known, [*sends, send])
                break
        else:
            groups.append((renderer, [send]))
        audience.groups = groups
        return audience

    def without(self, client) -> Audience | None:
        """
        This audience but C{client}; C{None} when C{client} is not in it
        the way it renders now (then only a rebuild from the members says
        who is).
        """
        send = self._sends.get(id(client))
        renderer = client.renderer
        if send is None:
            return self
        for index, (known, sends) in enumerate(self.groups):
            if known is renderer and send in sends:
                audience = Audience()
                audience._sends = sends_left = self._sends.copy()
                del sends_left[id(client)]
                left = sends.copy()
                left.remove(send)
                groups = self.groups.copy()
                if left:
                    groups[index] = (known, left)
                else:
                    del groups[index]
                audience.groups = groups
                return audience
        return None


class Room:
    """
    A named room: its members in the order they joined, its topic, and the
    modes its operators set.
    """

    __slots__ = ("name", "key", "members", "topic", "topic_by", "topic_time",
                 "created", "flags", "password", "limit", "bans", "invited",
                 "operators", "voiced", "joined_ids", "stored", "_ban_patterns",
                 "_audience", "metadata", "exceptions", "_exception_patterns",
                 "_mute_patterns", "ban_exceptions", "_exempt_patterns",
                 "_mute_exempt_patterns")

    def __init__(self, name: str, now: float, flags: frozenset[RoomMode] = frozenset()):
        self.name = name
        self.key = names.fold(name)
        self.members: dict[str, User] = {}
        self.topic = ""
        self.topic_by = ""
        self.topic_time = 0.0
        self.created = now
        self.flags: set[RoomMode] = set(flags)
        self.password: str | None = None
        self.limit: int | None = None
        self.bans: dict[str, Ban] = {}  # by folded mask
        self.invited: set[User] = set()
        self.operators: set[User] = set()
        self.voiced: set[User] = set()
        # The id of each member's join, kept only under since-join history
        # visibility.
        self.joined_ids: dict[User, int] = {}
        # Whether a store keeps this room's state.
        self.stored = False
        self._ban_patterns: dict[str, re.Pattern[str]] = {}
        self._mute_patterns: dict[str, re.Pattern[str]] = {}
        # Invite exceptions and ban exceptions (by folded mask), like bans.
        self.exceptions: dict[str, Ban] = {}
        self._exception_patterns: dict[str, re.Pattern[str]] = {}
        self.ban_exceptions: dict[str, Ban] = {}
        self._exempt_patterns: dict[str, re.Pattern[str]] = {}
        self._mute_exempt_patterns: dict[str, re.Pattern[str]] = {}
        self._audience: Audience | None = None
        self.metadata: dict[str, str] | None = None  # see core.metadata

    def __repr__(self) -> str:
        return f"<Room {self.name} ({len(self.members)})>"

    def is_member(self, user: User) -> bool:
        return self.members.get(user.key) is user

    def is_operator(self, user: User) -> bool:
        return user in self.operators

    @staticmethod
    def _matches(patterns: dict[str, re.Pattern[str]], user: User) -> bool:
        if not patterns:
            return False
        full = names.fold(f"{user.nick}!{user.username}@{user.host}")
        return any(p.fullmatch(full) for p in patterns.values())

    def is_banned(self, user: User) -> bool:
        """Whether a ban (not a mute) keeps C{user} out, no ban exception letting them in."""
        return (self._matches(self._ban_patterns, user)
                and not self._matches(self._exempt_patterns, user))

    def is_muted(self, user: User) -> bool:
        """Whether a mute (C{m:mask}) keeps C{user} quiet, no C{m:} exception freeing them."""
        return (self._matches(self._mute_patterns, user)
                and not self._matches(self._mute_exempt_patterns, user))

    def is_excepted(self, user: User) -> bool:
        """Whether an invite exception lets C{user} in uninvited."""
        return self._matches(self._exception_patterns, user)

    def may_speak(self, user: User) -> bool:
        """Whether C{user}'s messages reach the room (not whether they are in it)."""
        if user in self.operators or user in self.voiced:
            return True
        if RoomMode.MODERATED in self.flags:
            return False
        return not self.is_banned(user) and not self.is_muted(user)

    def _mask_list(self, mask: str) -> tuple[dict[str, Ban], dict[str, re.Pattern[str]], str]:
        """Where a ban mask goes: the bans and the patterns to match, and the bare mask."""
        if mask[:2].lower() == MUTE_PREFIX:
            return self.bans, self._mute_patterns, mask[2:]
        return self.bans, self._ban_patterns, mask

    @staticmethod
    def _add_mask(entries: dict[str, Ban], patterns: dict[str, re.Pattern[str]],
                  mask: str, bare: str, set_by: str, now: float) -> bool:
        # Masks are filed folded: masks that differ only in case are one.
        key = names.fold(mask)
        if key in entries:
            return False
        entries[key] = Ban(mask, set_by, now)
        patterns[key] = mask_matcher(bare)
        return True

    @staticmethod
    def _remove_mask(entries: dict[str, Ban], patterns: dict[str, re.Pattern[str]],
                     mask: str) -> bool:
        key = names.fold(mask)
        if entries.pop(key, None) is None:
            return False
        del patterns[key]
        return True

    def add_ban(self, mask: str, set_by: str, now: float) -> bool:
        entries, patterns, bare = self._mask_list(mask)
        return self._add_mask(entries, patterns, mask, bare, set_by, now)

    def remove_ban(self, mask: str) -> bool:
        entries, patterns, _ = self._mask_list(mask)
        return self._remove_mask(entries, patterns, mask)

    def _exemption_list(self, mask: str) -> tuple[dict[str, re.Pattern[str]], str]:
        if mask[:2].lower() == MUTE_PREFIX:
            return self._mute_exempt_patterns, mask[2:]
        return self._exempt_patterns, mask

    def add_ban_exception(self, mask: str, set_by: str, now: float) -> bool:
        patterns, bare = self._exemption_list(mask)
        return self._add_mask(self.ban_exceptions, patterns, mask, bare, set_by, now)

    def remove_ban_exception(self, mask: str) -> bool:
        patterns, _ = self._exemption_list(mask)
        return self._remove_mask(self.ban_exceptions, patterns, mask)

    def add_exception(self, mask: str, set_by: str, now: float) -> bool:
        return self._add_mask(self.exceptions, self._exception_patterns, mask, mask,
                              set_by, now)

    def remove_exception(self, mask: str) -> bool:
        return self._remove_mask(self.exceptions, self._exception_patterns, mask)

    def audience(self) -> Audience:
        """
        The members' clients grouped by renderer, kept until the membership
        (or a member's renderer) changes: saying something to a room walks
        these lists instead of looking up each member's client.
        """
        audience = self._audience
        if audience is None:
            audience = self._audience = Audience(self.members.values())
        return audience

    def changed(self) -> None:
        """The members, or how one of them renders events, changed."""
        self._audience = None

    def add(self, user: User) -> None:
        self.members[user.key] = user
        if self._audience is not None:
            self._audience = self._audience.with_member(user.client)

    def forget(self, user: User) -> None:
        """Drop everything the room knows of C{user}, who is leaving it."""
        if self._audience is not None:
            self._audience = self._audience.without(user.client)
        del self.members[user.key]
        self.operators.discard(user)
        self.voiced.discard(user)
        self.joined_ids.pop(user, None)

    def worth_keeping(self, default_flags: frozenset[RoomMode]) -> bool:
        """
        Whether the room holds anything its operators set (a topic, modes
        other than a new room's, a password, a limit, bans), which must
        outlive its members.
        """
        return bool(self.topic or self.password is not None or self.limit is not None
                    or self.bans or self.exceptions or self.ban_exceptions
                    or self.flags != default_flags)

    def state(self) -> RoomState:
        """What outlives the room's members, for a store."""
        from .history import RoomState

        return RoomState(self.name, self.created, self.topic, self.topic_by,
                         self.topic_time, frozenset(self.flags), self.password,
                         self.limit, tuple(self.bans.values()),
                         tuple(self.exceptions.values()),
                         tuple(self.ban_exceptions.values()))

    @classmethod
    def from_state(cls, state: RoomState) -> Room:
        """A room, with nobody in it, as a store kept it."""
        room = cls(state.name, state.created, state.flags & FLAGS)
        room.topic, room.topic_by, room.topic_time = (state.topic, state.topic_by,
                                                      state.topic_time)
        room.password, room.limit = state.password, state.limit
        for ban in state.bans:
            room.add_ban(ban.mask, ban.set_by, ban.time)
        for entry in state.exceptions:
            room.add_exception(entry.mask, entry.set_by, entry.time)
        for entry in state.ban_exceptions:
            room.add_ban_exception(entry.mask, entry.set_by, entry.time)
        return room
