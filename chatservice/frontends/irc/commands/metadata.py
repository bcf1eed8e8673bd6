"""
IRCv3 draft/metadata (the "metadata-2" draft, capability C{draft/metadata-3}
as irctest and current clients name it): key/value pairs on users and
channels.

Wire protocol (C{<target>} is a nick, a channel, or C{*} for oneself):
 - C{METADATA <target> GET <key>...}: per key, C{761 <me> <target> <key> *
   :<value>} or C{766 <me> <target> <key> :Key not set};
 - C{METADATA <target> LIST}: every key as 761;
 - C{METADATA <target> SET <key> [:<value>]}: 761 with the new value, or 766
   when the value is left out (the key is removed);
 - C{METADATA <target> CLEAR}: a 766 per key removed;
 - C{METADATA * SUB <key>...} / C{UNSUB <key>...} / C{SUBS}: which keys the
   client wants to hear of (770, 771, 772); C{METADATA <target> SYNC}: the
   subscribed keys of a target (and of a channel's members) now.
GET, LIST, CLEAR and SYNC answers come in a C{metadata} batch when the client
takes batches.  A subscriber sharing a channel with a user, or in a channel,
hears of a change as 761 (set) or 766 (removed), and on joining a channel
gets its subscribed keys of the channel and of its members as 761.  WHOIS
shows a user's keys as 760.  The capability's value gives the limits:
C{max-subs}, C{max-keys}, C{max-value-bytes}; ISUPPORT has C{METADATA=<max-keys>}.
Refusals are standard replies C{FAIL METADATA <code> ...}: INVALID_TARGET,
KEY_INVALID, KEY_NO_PERMISSION, INVALID_VALUE, INVALID_UTF8, LIMIT_REACHED,
TOO_MANY_SUBS, SUBCOMMAND_INVALID.  See L{chatservice.core.metadata} for the
rules.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from ....core import errors
from ....core import metadata as core
from ....core.hub import User
from ....core.rooms import Room
from ..wire import Message, format_line
from .common import _chunks, fail
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection

CAPABILITY = "draft/metadata-3"
CAPABILITY_VALUE = (f"before-connect,max-subs={core.MAX_SUBSCRIPTIONS},max-keys={core.MAX_KEYS},"
                    f"max-value-bytes={core.MAX_VALUE_BYTES}")
ISUPPORT = f"METADATA={core.MAX_KEYS}"

RPL_WHOISKEYVALUE = "760"
RPL_KEYVALUE = "761"
RPL_KEYNOTSET = "766"
RPL_METADATASUBOK = "770"
RPL_METADATAUNSUBOK = "771"
RPL_METADATASUBS = "772"


class Pending:
    """Keys a client sets on itself before it has registered (before-connect)."""

    nick = "*"

    def __init__(self) -> None:
        self.metadata: dict[str, str] = {}


class _Refused(Exception):
    def __init__(self, code: str, *params: str):
        super().__init__(code)
        self.code, self.params = code, params


def _target(conn: IRCConnection, user: User | None, name: str) -> core.Target:
    if user is None:
        # Before registration only one's own keys exist (before-connect).
        if name != "*" or CAPABILITY not in conn.caps:
            raise _Refused("INVALID_TARGET", name, "Register first")
        if conn.pending_metadata is None:
            conn.pending_metadata = Pending()
        return conn.pending_metadata
    try:
        if name == "*":
            return user
        if name.startswith("#"):
            return conn.hub.find_room(name)
        return conn.hub.find_user(name)
    except errors.ChatError:
        raise _Refused("INVALID_TARGET", name, "Invalid target") from None


def _name(target: core.Target) -> str:
    return target.name if isinstance(target, Room) else target.nick


def _readable(user: User, target: core.Target) -> bool:
    return not isinstance(target, Room) or core.may_read_room(user, target)


@contextmanager
def _batch(conn: IRCConnection, target: str) -> Iterator[str]:
    """Lines sent inside come in one C{metadata} batch, if the client takes batches."""
    if "batch" not in conn.caps:
        yield ""
        return
    ref = conn.new_batch()
    conn.send(format_line(conn.server, "BATCH", "+" + ref, "metadata", target))
    try:
        yield ref
    finally:
        conn.send(format_line(conn.server, "BATCH", "-" + ref))


def _reply(conn: IRCConnection, ref: str, code: str, *params: str) -> None:
    conn.send(format_line(conn.server, code, conn.nick, *params,
                          tags="batch=" + ref if ref else ""))


def _value_lines(conn: IRCConnection, ref: str, target: str, key: str,
                 value: str | None) -> None:
    if value is None:
        _reply(conn, ref, RPL_KEYNOTSET, target, key, "Key not set")
    else:
        _reply(conn, ref, RPL_KEYVALUE, target, key, "*", value)


@command("METADATA", 2, before_registration=True)
def metadata_(conn: IRCConnection, user: User, message: Message) -> None:
    name, sub = message.params[0], message.params[1].upper()
    arguments = message.params[2:]
    try:
        handler = _SUBCOMMANDS.get(sub)
        if handler is None:
            raise _Refused("SUBCOMMAND_INVALID", message.params[1], "Unknown subcommand")
        handler(conn, user, name, arguments)
    except _Refused as refused:
        fail(conn, "METADATA", refused.code, *refused.params)


def _get(conn: IRCConnection, user: User, name: str, keys: list[str]) -> None:
    target = _target(conn, user, name)
    shown = _name(target)
    if not keys:
        raise _Refused("NEED_MORE_PARAMS", "Which keys?")
    if not _readable(user, target):
        raise _Refused("KEY_NO_PERMISSION", shown, keys[0], "You may not read that")
    held = core.values(target)
    with _batch(conn, shown) as ref:
        for key in keys[:core.MAX_KEYS]:
            if not core.valid_key(key):
                conn.send(format_line(conn.server, "FAIL", "METADATA", "KEY_INVALID",
                                      key[:64], "Invalid key",
                                      tags="batch=" + ref if ref else ""))
                continue
            _value_lines(conn, ref, shown, key, held.get(key))


def _list(conn: IRCConnection, user: User, name: str, arguments: list[str]) -> None:
    target = _target(conn, user, name)
    shown = _name(target)
    if not _readable(user, target):
        raise _Refused("KEY_NO_PERMISSION", shown, "*", "You may not read that")
    with _batch(conn, shown) as ref:
        for key, value in list(core.values(target).items()):
            _value_lines(conn, ref, shown, key, value)


def _set(conn: IRCConnection, user: User, name: str, arguments: list[str]) -> None:
    target = _target(conn, user, name)
    shown = _name(target)
    if not arguments:
        raise _Refused("NEED_MORE_PARAMS", "Which key?")
    key = arguments[0]
    value = arguments[1] if len(arguments) > 1 else None
    try:
        if isinstance(target, Pending):
            core.check(target.metadata, key, value)
            if value is None:
                target.metadata.pop(key, None)
            else:
                target.metadata[key] = value
        else:
            core.set_value(conn.hub, user, target, key, value)
    except core.InvalidKey:
        raise _Refused("KEY_INVALID", key[:64], "Invalid key") from None
    except errors.NotYours:
        raise _Refused("KEY_NO_PERMISSION", shown, key, "You may not change that") from None
    except core.InvalidValue:
        if value is not None and "\ufffd" in value:
            raise _Refused("INVALID_UTF8", "Values must be UTF-8") from None
        raise _Refused("INVALID_VALUE", key,
                       f"Values are at most {core.MAX_VALUE_BYTES} bytes") from None
    except core.TooManyKeys:
        raise _Refused("LIMIT_REACHED", shown, "Too many keys") from None
    _value_lines(conn, "", shown, key, value)


def _clear(conn: IRCConnection, user: User, name: str, arguments: list[str]) -> None:
    target = _target(conn, user, name)
    shown = _name(target)
    try:
        if isinstance(target, Pending):
            cleared = list(target.metadata)
            target.metadata.clear()
        else:
            cleared = core.clear(conn.hub, user, target)
    except errors.NotYours:
        raise _Refused("KEY_NO_PERMISSION", shown, "*", "You may not change that") from None
    with _batch(conn, shown) as ref:
        for key in cleared:
            _value_lines(conn, ref, shown, key, None)


def _sub(conn: IRCConnection, user: User, name: str, keys: list[str]) -> None:
    subs = set(conn.metadata_subs)
    added = []
    for key in keys:
        if not core.valid_key(key):
            fail(conn, "METADATA", "KEY_INVALID", key[:64], "Invalid key")
        elif key in subs:
            added.append(key)
        elif len(subs) >= core.MAX_SUBSCRIPTIONS:
            fail(conn, "METADATA", "TOO_MANY_SUBS", key, "Too many subscriptions")
        else:
            subs.add(key)
            added.append(key)
    conn.metadata_subs = frozenset(subs)
    for chunk in _chunks(added, 400):
        conn.numeric(RPL_METADATASUBOK, *chunk)


def _unsub(conn: IRCConnection, user: User, name: str, keys: list[str]) -> None:
    removed = [key for key in keys if key in conn.metadata_subs]
    conn.metadata_subs = conn.metadata_subs - set(keys)
    for chunk in _chunks(removed, 400):
        conn.numeric(RPL_METADATAUNSUBOK, *chunk)


def _subs(conn: IRCConnection, user: User, name: str, arguments: list[str]) -> None:
    with _batch(conn, "*") as ref:
        for chunk in _chunks(sorted(conn.metadata_subs), 400):
            _reply(conn, ref, RPL_METADATASUBS, *chunk)


def _sync(conn: IRCConnection, user: User, name: str, arguments: list[str]) -> None:
    target = _target(conn, user, name)
    if isinstance(target, Pending):
        raise _Refused("INVALID_TARGET", name, "Register first")
    shown = _name(target)
    if not _readable(user, target):
        raise _Refused("KEY_NO_PERMISSION", shown, "*", "You may not read that")
    with _batch(conn, shown) as ref:
        _subscribed(conn, ref, target)
        if isinstance(target, Room):
            for member in list(target.members.values()):
                _subscribed(conn, ref, member)


def _subscribed(conn: IRCConnection, ref: str, target: core.Target) -> None:
    """The keys of C{target} the client subscribed to, as 761."""
    subs = conn.metadata_subs
    for key, value in list(core.values(target).items()):
        if key in subs:
            _value_lines(conn, ref, _name(target), key, value)


_SUBCOMMANDS = {"GET": _get, "LIST": _list, "SET": _set, "CLEAR": _clear, "SUB": _sub,
                "UNSUB": _unsub, "SUBS": _subs, "SYNC": _sync}


# Hooks for the rest of the IRC front end

def changed(conn: IRCConnection, target: str, key: str, value: str | None) -> None:
    """A target this client shares a channel with changed C{key}."""
    if CAPABILITY in conn.caps and key in conn.metadata_subs:
        _value_lines(conn, "", target, key, value)


def on_join(conn: IRCConnection, user: User, room: Room) -> None:
    """After joining C{room}: its subscribed keys, and its members'."""
    if CAPABILITY not in conn.caps or not conn.metadata_subs:
        return
    if not core.values(room) and not any(core.values(member) for member in
                                         room.members.values() if member is not user):
        return
    with _batch(conn, room.name) as ref:
        _subscribed(conn, ref, room)
        for member in list(room.members.values()):
            if member is not user:
                _subscribed(conn, ref, member)


def registered(conn: IRCConnection, user: User) -> None:
    """The client registered: the keys it set before are its own now, and shown."""
    pending = conn.pending_metadata
    if pending is None:
        return
    conn.pending_metadata = None
    if not pending.metadata:
        return
    user.metadata = dict(pending.metadata)
    with _batch(conn, user.nick) as ref:
        for key, value in pending.metadata.items():
            _value_lines(conn, ref, user.nick, key, value)


def whois(conn: IRCConnection, target: User) -> None:
    """A user's keys in WHOIS, for clients that take metadata."""
    if CAPABILITY in conn.caps:
        for key, value in list(core.values(target).items()):
            conn.numeric(RPL_WHOISKEYVALUE, target.nick, key, "*", value)
