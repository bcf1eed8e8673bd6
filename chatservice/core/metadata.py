"""
Metadata: small key/value pairs that people set on themselves and room
operators set on rooms (a display name, an avatar URL, a colour), which
clients show beside the nick or the room (IRCv3 draft/metadata).

Rules, whatever the front end:
 - a key is 1 to L{MAX_KEY_LENGTH} characters of C{a-z 0-9 _ . / -}, not
   starting with C{-};
 - a value is at most L{MAX_VALUE_BYTES} bytes of UTF-8, and may not hold the
   replacement character (what invalid UTF-8 decodes to);
 - a person or room holds at most L{MAX_KEYS} keys;
 - a person sets only their own (server operators anyone's), a room's
   operators (and server operators) the room's;
 - anyone may read a person's metadata; a room's is read like its history:
   by anyone who could join it, and a secret room's only by its members.
Everyone concerned is told of a change (a person's neighbours in rooms, a
room's members) through their client's C{metadata_changed(target, key,
value)}, if it has one: only IRC clients that subscribed to a key show it.
Metadata lives as long as the person's connection or the room, and is not
kept across restarts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Union

from . import errors
from .rooms import RoomMode

if TYPE_CHECKING:
    from .hub import Hub, User
    from .rooms import Room

MAX_KEYS = 20
MAX_KEY_LENGTH = 64
MAX_VALUE_BYTES = 300
MAX_SUBSCRIPTIONS = 50

_KEY = re.compile(r"[a-z0-9_./][a-z0-9_./-]*", re.ASCII)

Target = Union["User", "Room"]


class InvalidKey(errors.ChatError):
    """The key breaks the rules for keys."""


class InvalidValue(errors.ChatError):
    """The value is too long or not valid UTF-8."""


class TooManyKeys(errors.ChatError):
    """The target holds as many keys as it may."""


def valid_key(key: str) -> bool:
    return len(key) <= MAX_KEY_LENGTH and _KEY.fullmatch(key) is not None


def values(target: Target) -> dict[str, str]:
    """The keys and values C{target} holds (do not change it)."""
    return target.metadata or {}


def may_read_room(user: User, room: Room) -> bool:
    """Whether C{user} may read C{room}'s metadata."""
    if room.is_member(user):
        return True
    if RoomMode.SECRET in room.flags or RoomMode.INVITE_ONLY in room.flags:
        return False
    return room.password is None and not room.is_banned(user)


def may_write(user: User, target: Target) -> bool:
    if user.is_operator:
        return True
    if hasattr(target, "members"):
        return target.is_operator(user)
    return target is user


def check(kept: dict[str, str] | None, key: str, value: str | None) -> None:
    """
    Refuse setting C{key} to C{value} among the keys C{kept} if it breaks
    the rules for keys, values or their number.
    """
    if not valid_key(key):
        raise InvalidKey(f"{key!r} is not a valid key.", key)
    if value is None:
        return
    if len(value.encode("utf-8")) > MAX_VALUE_BYTES or "\ufffd" in value:
        raise InvalidValue(f"A value has at most {MAX_VALUE_BYTES} bytes of UTF-8.", key)
    if kept is not None and key not in kept and len(kept) >= MAX_KEYS:
        raise TooManyKeys(f"At most {MAX_KEYS} keys may be set.", key)


def set_value(hub: Hub, user: User, target: Target, key: str,
              value: str | None) -> None:
    """
    Set C{key} of C{target} to C{value} (C{None}: remove it) as C{user}, and
    tell everyone concerned but C{user}.

    @raise InvalidKey, InvalidValue, TooManyKeys, errors.NotYours: refused.
    """
    if not valid_key(key):
        raise InvalidKey(f"{key!r} is not a valid key.", key)
    if not may_write(user, target):
        raise errors.NotYours("You may not change that.", key)
    kept = target.metadata
    check(kept, key, value)
    if value is None:
        if kept is None or key not in kept:
            return
        del kept[key]
    else:
        if kept is None:
            kept = target.metadata = {}
        if kept.get(key) == value:
            return
        kept[key] = value
    _tell(hub, user, target, key, value)


def clear(hub: Hub, user: User, target: Target) -> list[str]:
    """Remove every key of C{target} as C{user}; return the keys removed."""
    if not may_write(user, target):
        raise errors.NotYours("You may not change that.", "*")
    keys = list(values(target))
    for key in keys:
        set_value(hub, user, target, key, None)
    return keys


def _tell(hub: Hub, user: User, target: Target, key: str, value: str | None) -> None:
    if hasattr(target, "members"):
        audience = list(target.members.values())
        name = target.name
    else:
        audience = hub.neighbours(target) + [target]
        name = target.nick
    for member in audience:
        if member is user:
            continue
        told = getattr(member.client, "metadata_changed", None)
        if told is not None:
            told(name, key, value)
