"""
Registration and capabilities: CAP (and the capabilities offered), PASS,
NICK, USER, PING, PONG and QUIT; and AWAY, the connection's own state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ....core import errors, names
from ....core.hub import User
from ... import secure
from .. import labels, multiline
from . import metadata
from .. import numerics as N
from ..wire import Message
from . import accounts
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection


CAPABILITIES = (
    "away-notify",
    "batch",
    "cap-notify",
    "draft/channel-rename",
    "draft/metadata-3",
    "draft/multiline",
    "draft/read-marker",
    "echo-message",
    "labeled-response",
    "extended-monitor",
    "message-tags",
    "multi-prefix",
    "server-time",
    "setname",
    "userhost-in-names",
)

# What CAP LS 302 says of some capabilities, after an "=".
CAPABILITY_VALUES = {multiline.CAPABILITY: multiline.CAPABILITY_VALUE,
                     metadata.CAPABILITY: metadata.CAPABILITY_VALUE}

# Offered only when the server keeps history (the hub has a store).
HISTORY_CAPABILITIES = (
    "draft/chathistory",
    "draft/event-playback",
    "draft/message-redaction",
    "soju.im/search",
)


def capabilities(conn: IRCConnection) -> tuple[str, ...]:
    """The capabilities this server offers C{conn}, in name order."""
    offered = CAPABILITIES + tuple(accounts.cap_values(conn))
    if conn.hub.history is not None:
        offered += HISTORY_CAPABILITIES
    return tuple(sorted(offered))


def sts_policy(conn: IRCConnection) -> str | None:
    """
    The value of the IRCv3 C{sts} capability for C{conn}: on a plain
    connection the TLS port to move to, on a TLS one how long to keep to
    TLS; C{None} without a TLS listener, for a plain connection when the
    duration is 0, and over WebSocket (whose clients cannot move to an IRC
    port).
    """
    settings = conn.factory.settings
    if settings.sts_port is None or not secure.is_socket(conn.transport):
        return None
    if secure.is_encrypted(conn.transport):
        return f"duration={settings.sts_duration}"
    if settings.sts_duration == 0:
        return None
    return f"port={settings.sts_port}"


# The longest line a client takes (RFC 1459, without tags).
MAX_LINE = 512


def _listed(conn: IRCConnection, with_values: bool) -> str:
    """What CAP LS lists; values (C{sts}'s among them) only for CAP LS 302."""
    names = list(capabilities(conn))
    if with_values:
        values = {**CAPABILITY_VALUES, **accounts.cap_values(conn)}
        names = [f"{name}={values[name]}" if values.get(name) else name for name in names]
        policy = sts_policy(conn)
        if policy is not None:
            names.append(f"sts={policy}")
    return " ".join(sorted(names))


# Registration

@command("CAP", 1, before_registration=True)
def cap(conn: IRCConnection, user: User | None, message: Message) -> None:
    sub = message.params[0].upper()
    if sub == "LS":
        if user is None:
            conn.cap_negotiating = True
        version = message.params[1] if len(message.params) > 1 else ""
        v302 = version.isascii() and version.isdigit() and int(version) >= 302
        if v302:
            conn.set_caps(conn.caps | {"cap-notify"})
        listed = _listed(conn, v302).split(" ")
        # CAP LS 302: a list too long for one 512-byte line continues over
        # several, each but the last marked "*".
        room = MAX_LINE - len(f":{conn.server} CAP {conn.nick} LS * :\r\n")
        while len(" ".join(listed)) > room and v302:
            cut = 1
            while len(" ".join(listed[:cut + 1])) <= room:
                cut += 1
            conn.line("CAP", conn.nick, "LS", "*", " ".join(listed[:cut]))
            listed = listed[cut:]
        conn.line("CAP", conn.nick, "LS", " ".join(listed))
    elif sub == "LIST":
        conn.line("CAP", conn.nick, "LIST", " ".join(sorted(conn.caps)))
    elif sub == "REQ":
        if user is None:
            conn.cap_negotiating = True
        wanted = message.params[1] if len(message.params) > 1 else ""
        requested = wanted.split()
        names_only = [name.lstrip("-") for name in requested]
        offered = capabilities(conn)
        if not requested or any(name not in offered for name in names_only):
            conn.line("CAP", conn.nick, "NAK", wanted)
            return
        caps = set(conn.caps)
        for name in requested:
            if name.startswith("-"):
                caps.discard(name[1:])
            else:
                caps.add(name)
        conn.set_caps(caps)
        conn.line("CAP", conn.nick, "ACK", wanted)
    elif sub == "END":
        if user is None:
            conn.cap_negotiating = False
            conn.try_register()
    else:
        conn.numeric("410", message.params[0], "Invalid CAP command")


@command("PASS", 1, before_registration=True)
def pass_(conn: IRCConnection, user: User | None, message: Message) -> None:
    if user is not None:
        conn.numeric(N.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    conn.password_given = message.params[0]


@command("NICK", before_registration=True)
def nick(conn: IRCConnection, user: User | None, message: Message) -> None:
    if not message.params or not message.params[0]:
        conn.numeric(N.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    wanted = message.params[0]
    if user is None:
        conn.wanted_nick = wanted
        problem = names.nick_problem(wanted)
        if problem:
            conn.numeric(N.ERR_ERRONEUSNICKNAME, wanted, "Erroneous nickname")
            return
        try:
            conn.hub.find_user(wanted)
        except errors.NoSuchNick:
            pass
        else:
            # Taken; unless by a ghost of the account this client logged in
            # to, which registration takes it back from.
            if conn.account is None or not conn.account.owns(wanted):
                conn.numeric(N.ERR_NICKNAMEINUSE, wanted, "Nickname is already in use")
                return
        conn.nick = wanted
        conn.try_register()
        return
    if conn.hub.accounts is not None and names.fold(wanted) != user.key:
        # A registered nickname is its account's only: ask the store first.
        # The answer comes later, as a read from disk does: it keeps the
        # command's label, and the client's next lines wait for it.
        pending = labels.hold(conn)

        def answer(refusal: str | None) -> None:
            with labels.later(conn, pending):
                _rename_unless_refused(refusal, conn, user, wanted)
        checking = conn.hub.accounts.nick_refusal(wanted, user.account)
        checking.addCallback(answer)
        checking.addErrback(lambda failure: conn.log.failure("Checking a nickname failed",
                                                             failure))
        return
    _rename(conn, user, wanted)


def _rename_unless_refused(refusal: str | None, conn: IRCConnection, user: User,
                           wanted: str) -> None:
    if not conn.serving(user):
        return
    if refusal is not None:
        conn.numeric(N.ERR_NICKNAMEINUSE, wanted, refusal)
        return
    _rename(conn, user, wanted)


def _rename(conn: IRCConnection, user: User, wanted: str) -> None:
    old = user.nick
    try:
        event = conn.hub.rename(user, wanted)
    except errors.ErroneousNick:
        conn.numeric(N.ERR_ERRONEUSNICKNAME, wanted, "Erroneous nickname")
        return
    except errors.NickInUse:
        conn.numeric(N.ERR_NICKNAMEINUSE, wanted, "Nickname is already in use")
        return
    if event is not None:
        conn.nick = user.nick
        conn.log.info("{old} is now {new}", old=old, new=user.nick)
        conn.echo(event)


# The user name and the real name may not be empty; nor, for simplicity,
# the two unused parameters between them.
@command("USER", 4, before_registration=True, nonempty=4)
def user_(conn: IRCConnection, user: User | None, message: Message) -> None:
    if user is not None or conn.username is not None:
        conn.numeric(N.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    username = message.params[0]
    # No ident lookup: the name the client gave is shown with a ~, and kept
    # to characters that cannot break a nick!user@host mask.
    safe = "".join(c for c in username if c.isalnum() or c in "-_.")[:10] or "user"
    conn.username = "~" + safe
    conn.realname = message.params[3]
    conn.try_register()


@command("PING", before_registration=True)
def ping(conn: IRCConnection, user: User | None, message: Message) -> None:
    if not message.params:
        conn.numeric(N.ERR_NOORIGIN, "No origin specified")
        return
    conn.line("PONG", conn.server, message.params[0])


@command("PONG", before_registration=True)
def pong(conn: IRCConnection, user: User | None, message: Message) -> None:
    """Any line shows the client is alive; nothing more to do."""


@command("QUIT", before_registration=True)
def quit_(conn: IRCConnection, user: User | None, message: Message) -> None:
    reason = message.params[0] if message.params else ""
    conn.close(f"Quit: {reason}" if reason else "Quit")


@command("AWAY")
def away(conn: IRCConnection, user: User, message: Message) -> None:
    conn.hub.set_away(user, message.params[0] if message.params else "")
    if user.away:
        conn.numeric(N.RPL_NOWAWAY, "You have been marked as being away")
    else:
        conn.numeric(N.RPL_UNAWAY, "You are no longer marked as being away")
