"""
Messages: PRIVMSG, NOTICE and TAGMSG, with the client-only tags they relay.

A channel target may carry a status prefix (ISUPPORT C{STATUSMSG=@+}):
C{PRIVMSG @#chan :text} reaches the channel's operators only, C{+#chan} its
operators and voiced members; anyone who may speak in the channel may send
one, and it arrives addressed to C{@#chan} (or C{+#chan}).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ....core import errors, names
from ....core.events import Kind
from ....core.hub import Tags, User
from .. import numerics as N
from ..wire import Message
from .common import _refusal, _still_here, _targets
from . import chanserv, nickserv
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection


# Targets one PRIVMSG or NOTICE may have (TARGMAX): one line may not fan out
# into hundreds of messages.
MAX_MESSAGE_TARGETS = 4

# Channel prefixes that narrow a message to the members with that status.
STATUS_PREFIXES = "@+"


# A client tag's name: "+", an optional vendor (a host name) and "/", then
# letters, digits and hyphens (IRCv3 message-tags).
_CLIENT_TAG = re.compile(r"\+(?:[A-Za-z0-9.-]+/)?[A-Za-z0-9-]+", re.ASCII)


def _client_tags(message: Message) -> Tags:
    """The client-only tags (C{+name}) of C{message}, to relay; others are dropped."""
    return tuple((name, value) for name, value in message.tags.items()
                 if _CLIENT_TAG.fullmatch(name))


def _echo(conn: IRCConnection, user: User, to_room: bool, event) -> None:
    """
    A message to oneself arrives like any other; with echo-message, every
    message also comes back as the sender's confirmation (so a message to
    oneself comes twice, and only the confirmation answers a labeled
    command).
    """
    to_self = not to_room and names.fold(event.target) == user.key
    if "echo-message" in conn.caps:
        if to_self:
            data = conn.renderer(event)
            if data:
                conn.send_uncaptured(data)
        conn.echo(event)
    elif to_self:
        conn.echo(event)


def _deliver(conn: IRCConnection, user: User, message: Message, kind: Kind) -> None:
    notice = kind is Kind.NOTICE
    if not message.params or not message.params[0]:
        if not notice:
            conn.numeric(N.ERR_NORECIPIENT, f"No recipient given ({message.command})")
        return
    if len(message.params) < 2 or not message.params[1]:
        if not notice:
            conn.numeric(N.ERR_NOTEXTTOSEND, "No text to send")
        return
    text = message.params[1]
    if kind is Kind.SAY and text.startswith("\x01ACTION"):
        kind = Kind.ACTION
        text = text[len("\x01ACTION"):].lstrip(" ").rstrip("\x01") or " "
    targets = _targets(message.params[0])
    if len(targets) > MAX_MESSAGE_TARGETS:
        if not notice:
            conn.numeric(N.ERR_TOOMANYTARGETS, targets[MAX_MESSAGE_TARGETS], "Too many "
                         f"recipients; only the first {MAX_MESSAGE_TARGETS} were sent to")
        del targets[MAX_MESSAGE_TARGETS:]
    tags = _client_tags(message)
    for target in targets:
        if conn.hub.accounts is not None and (
                nickserv.is_nickserv(target) or chanserv.is_chanserv(target)):
            if not notice:
                service = nickserv if nickserv.is_nickserv(target) else chanserv
                service.handle(conn, user, text)
            continue
        status = target[0] if target[0] in STATUS_PREFIXES and target[1:2] == "#" else ""
        to_room = bool(status) or target.startswith("#")
        try:
            if status:
                event = conn.hub.say(user, target[1:], text, kind, tags, status)
            elif target.startswith("#"):
                event = conn.hub.say(user, target, text, kind, tags)
            else:
                event = conn.hub.tell(user, target, text, kind, tags)
        except errors.ChatError as refusal:
            if not notice:
                _refusal(conn, refusal, target)
            continue
        _echo(conn, user, to_room, event)
        if not notice and not to_room:
            recipient = _still_here(conn, event.target)
            if recipient is not None and recipient.away:
                conn.numeric(N.RPL_AWAY, recipient.nick, recipient.away)


@command("PRIVMSG")
def privmsg(conn: IRCConnection, user: User, message: Message) -> None:
    _deliver(conn, user, message, Kind.SAY)


@command("NOTICE")
def notice(conn: IRCConnection, user: User, message: Message) -> None:
    _deliver(conn, user, message, Kind.NOTICE)


@command("TAGMSG", 1)
def tagmsg(conn: IRCConnection, user: User, message: Message) -> None:
    """
    Client-only tags on their own (typing notifications, reactions) go to
    the targets' clients that take message tags; other tags are dropped.
    """
    tags = _client_tags(message)
    for target in _targets(message.params[0])[:MAX_MESSAGE_TARGETS]:
        try:
            event = conn.hub.signal(user, target, tags)
        except errors.ChatError as refusal:
            _refusal(conn, refusal, target)
            continue
        _echo(conn, user, target.startswith("#"), event)
