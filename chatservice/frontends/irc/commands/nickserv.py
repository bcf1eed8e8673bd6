"""
NickServ: accounts for IRC clients without SASL or account-registration.

Wire protocol
=============
``PRIVMSG NickServ :<command> <arguments>`` (or ``NICKSERV ...``, ``NS ...``)
with the commands REGISTER <password> [email], IDENTIFY [account] <password>,
GHOST <nick> <password>, GROUP, INFO [nick], SET PASSWORD <new>,
DROP <password>, CERT ADD|DEL [fingerprint] and CERT LIST (TLS client
certificates for SASL EXTERNAL; the current connection's when no fingerprint
is given), TOKENS LIST|NEW [label]|REVOKE <id>|ALL (login tokens, see
L{chatservice.core.tokens}) and HELP.  Every answer is a ``NOTICE`` from
``NickServ!NickServ@services`` to the client.  The nickname NickServ is
reserved.  Each command is the core's (L{chatservice.core.accounts}); this
module only parses and words the answers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ....core import certfps, tokens
from ....core.hub import User
from ...secure import certificate_fingerprint
from ..wire import Message
from .accounts import logged_in
from .services import Service
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection

SERVICE = Service("NickServ")
NAME = SERVICE.name
SOURCE = SERVICE.source

HELP = (
    "NickServ keeps accounts. Commands:",
    "REGISTER <password> [email]  register your current nickname",
    "IDENTIFY [account] <password>  log in",
    "GHOST <nick> <password>  sign out whoever uses your nickname",
    "GROUP  add your current nickname to your account",
    "INFO [nick]  who owns a nickname",
    "SET PASSWORD <new>  change your password",
    "DROP <password>  delete your account",
    "CERT ADD|DEL [fp]  let a TLS client certificate log in (SASL EXTERNAL); default: this one",
    "CERT LIST  your certificates",
    "TOKENS [LIST]  your login tokens (remembered logins)",
    "TOKENS NEW [label]  a new login token, to use as a password",
    "TOKENS REVOKE <id>|ALL  revoke one login token, or all",
)


def is_nickserv(target: str) -> bool:
    return SERVICE.addressed(target)


_say = SERVICE.say
_run = SERVICE.run


def handle(conn: IRCConnection, user: User, text: str) -> None:
    """Run one NickServ command C{text} for C{user}."""
    words = text.split()
    accounts = conn.hub.accounts
    if accounts is None:
        _say(conn, "This server has no accounts.")
        return
    verb = words[0].upper() if words else "HELP"
    args = words[1:]
    if verb == "REGISTER" and args:
        if user.account:
            _say(conn, f"You are already logged in as {user.account}.")
            return
        email = args[1] if len(args) > 1 else ""
        _run(conn, user, accounts.register(user.nick, args[0], email), lambda account: (
            _say(conn, f"{account.name} is registered to you."), logged_in(conn, account)))
    elif verb == "IDENTIFY" and args:
        name, password = (args[0], " ".join(args[1:])) if len(args) > 1 else (user.nick, args[0])
        _run(conn, user, accounts.login(name, password, conn.peer_host), lambda account: (
            _say(conn, f"You are now identified for {account.name}."),
            logged_in(conn, account)))
    elif verb == "GHOST" and len(args) >= 2:
        nick = args[0]

        def ghosted(account):
            gone = conn.hub.ghost(nick, account.name, user)
            _say(conn, f"{nick} has been ghosted." if gone else f"Nobody else uses {nick}.")
        _run(conn, user, accounts.login_for_nick(nick, " ".join(args[1:]), conn.peer_host),
             ghosted)
    elif verb == "GROUP":
        if not user.account:
            _say(conn, "Identify first.")
            return
        _run(conn, user, accounts.group(user.account, user.nick),
             lambda _: _say(conn, f"{user.nick} is now grouped to {user.account}."))
    elif verb == "INFO":
        nick = args[0] if args else user.nick

        def info(account):
            if account is None:
                _say(conn, f"{nick} is not registered.")
                return
            since = time.strftime("%Y-%m-%d", time.gmtime(account.created))
            grouped = f"; also {', '.join(account.nicks)}" if account.nicks else ""
            _say(conn, f"{nick} belongs to {account.name}, registered {since}{grouped}.")
        _run(conn, user, accounts.find(nick), info)
    elif verb == "SET" and len(args) >= 2 and args[0].upper() == "PASSWORD":
        if not user.account:
            _say(conn, "Identify first.")
            return
        checking = accounts.find(user.account).addCallback(
            lambda account: accounts.change_password(account, " ".join(args[1:])))
        _run(conn, user, checking, lambda _: _say(conn, "Your password is changed."))
    elif verb == "CERT":
        current = certificate_fingerprint(conn.transport)
        _run(conn, user, certfps.command(accounts, user.account, args, current),
             lambda lines: [_say(conn, line) for line in lines])
    elif verb == "TOKENS":
        _run(conn, user, tokens.command(accounts, user.account, args),
             lambda lines: [_say(conn, line) for line in lines])
    elif verb == "DROP" and args:
        if not user.account:
            _say(conn, "Identify first.")
            return
        name = user.account
        checking = accounts.login(name, " ".join(args), conn.peer_host,
                                  token_ok=False).addCallback(
            lambda account: accounts.store.drop(account.name))

        def dropped(_):
            conn.hub.set_account(user, None)
            conn.account = None
            _say(conn, f"The account {name} is dropped.")
        _run(conn, user, checking, dropped)
    else:
        for line in HELP:
            _say(conn, line)


@command("NICKSERV")
def nickserv(conn: IRCConnection, user: User, message: Message) -> None:
    handle(conn, user, " ".join(message.params))


@command("NS")
def ns(conn: IRCConnection, user: User, message: Message) -> None:
    handle(conn, user, " ".join(message.params))
