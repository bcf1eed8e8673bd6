"""
Server operators: OPER, and KILL, WALLOPS and REHASH (for operators only).

C{WALLOPS :text} reaches everyone who set user mode +w (on any front end
that shows it), as C{:nick!user@host WALLOPS :text}; the sender sees it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ....core import errors
from ....core.hub import User
from .. import numerics as N
from ..render import mask
from ..wire import Message
from .common import _refusal
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection


@command("OPER", 2)
def oper(conn: IRCConnection, user: User, message: Message) -> None:
    if not conn.hub.operators:
        conn.numeric(N.ERR_NOOPERHOST, "No O-lines for your host")
        return
    try:
        conn.hub.become_operator(user, message.params[0], message.params[1])
    except errors.PasswordMismatch:
        conn.log.info("{nick} failed to become an operator", nick=user.nick)
        conn.numeric(N.ERR_PASSWDMISMATCH, "Password incorrect")
        return
    conn.log.info("{nick} is now a server operator", nick=user.nick)
    conn.numeric(N.RPL_YOUREOPER, "You are now an IRC operator")
    conn.line("MODE", user.nick, "+o", source=mask(user.source))


@command("WALLOPS", 1, oper_only=True, nonempty=1)
def wallops(conn: IRCConnection, user: User, message: Message) -> None:
    try:
        event = conn.hub.wallops(user, message.params[0])
    except errors.ChatError as refusal:
        _refusal(conn, refusal, "WALLOPS")
        return
    conn.echo(event)


@command("KILL", 2, oper_only=True)
def kill(conn: IRCConnection, user: User, message: Message) -> None:
    try:
        target, _ = conn.hub.kill(user, message.params[0], message.params[1])
    except errors.ChatError as refusal:
        _refusal(conn, refusal, message.params[0])
        return
    conn.log.info("{oper} killed {nick}", oper=user.nick, nick=target.nick)
    client = target.client
    closer = getattr(client, "close", None)
    if closer is not None:
        closer(f"Killed by {user.nick} ({message.params[1]})")


@command("REHASH", oper_only=True)
def rehash(conn: IRCConnection, user: User, message: Message) -> None:
    """
    Reload the configuration: 382 at once, then NOTICEs saying what
    changed (one per part, so that each line stays short) or why nothing did.
    """
    try:
        reloading = conn.hub.rehash(user)
    except errors.ChatError as refusal:
        conn.line("NOTICE", user.nick, f"*** {refusal}")
        return
    conn.numeric(N.RPL_REHASHING, conn.hub.reloader.label, "Rehashing")

    def tell(text: str) -> None:
        if conn.serving(user):
            for part in text.split("; "):
                conn.line("NOTICE", user.nick, f"*** {part}")

    def failed(failure) -> None:
        failure.trap(errors.ReloadFailed)
        tell(f"Rehash failed, nothing changed: {failure.value}")

    reloading.addCallback(lambda summary: tell(f"Rehash: {summary}"))
    reloading.addErrback(failed)
