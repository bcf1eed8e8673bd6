"""
Accounts over IRC: SASL, account registration and PASS account:password.

Wire protocol
=============
SASL (IRCv3 sasl-3.1 and 3.2, https://ircv3.net/specs/extensions/sasl-3.1):
the ``sasl`` capability, whose value (CAP LS 302) is ``PLAIN,SCRAM-SHA-256``,
and ``PLAIN,SCRAM-SHA-256,EXTERNAL`` on TLS connections whose listener asks
for a client certificate (EXTERNAL logs in to the account that registered the
certificate's SHA-256 fingerprint; the client's message is ``+`` or the
base64 of the account name).
``AUTHENTICATE <mechanism>`` starts an exchange; the server answers
``AUTHENTICATE +`` (an empty challenge) or ``AUTHENTICATE <base64>``.  The
client answers with base64 in chunks of 400 bytes: a chunk of exactly 400
bytes means more follow, and a lone ``+`` is an empty chunk that ends the
answer.  ``AUTHENTICATE *`` aborts (906).  Replies:

 - 900 RPL_LOGGEDIN ``<nick> <nick>!<user>@<host> <account> :You are now logged in as <account>``
 - 903 RPL_SASLSUCCESS ``<nick> :SASL authentication successful``
 - 904 ERR_SASLFAIL ``<nick> :SASL authentication failed[: why]``
 - 905 ERR_SASLTOOLONG ``<nick> :SASL message too long`` (a chunk over 400
   bytes, or an answer over L{MAX_ANSWER} bytes of base64)
 - 906 ERR_SASLABORTED ``<nick> :SASL authentication aborted`` (``*``, or the
   client ended registration in the middle of an exchange)
 - 907 ERR_SASLALREADY ``<nick> :You have already authenticated using SASL``
   (before registration; once registered, a client may authenticate again)
 - 908 RPL_SASLMECHS ``<nick> PLAIN,SCRAM-SHA-256 :are available SASL mechanisms``
   (before 904, for a mechanism the server lacks)

Account registration (draft/account-registration,
https://ircv3.net/specs/extensions/account-registration): the capability's
value is ``before-connect``; no e-mail is required or verified, so ``VERIFY``
always fails.  ``REGISTER <account> <email> <password>``, where ``<account>``
is ``*`` or the current nickname and ``<email>`` may be ``*``, answers
``REGISTER SUCCESS <account> :<message>`` (the client is then logged in, with
900) or ``FAIL REGISTER <code> <account> :<why>`` with the codes
ACCOUNT_EXISTS, BAD_ACCOUNT_NAME, ACCOUNT_NAME_MUST_BE_NICK, NEED_NICK,
ALREADY_AUTHENTICATED, WEAK_PASSWORD, UNACCEPTABLE_PASSWORD, INVALID_EMAIL,
TEMPORARILY_UNAVAILABLE (registration closed, or too many attempts).

``PASS account:password`` before registration (on a server without a server
password) logs in as with SASL PLAIN.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from ....core import errors, sasl
from ....core.accounts import (
    Account, AccountExists, BadPassword, LoginFailed, LoginLimited, RegistrationClosed)
from ....core.hub import User
from ...secure import asks_certificate, certificate_fingerprint
from ..render import display_host
from ..wire import Message
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection

RPL_LOGGEDIN = "900"
RPL_LOGGEDOUT = "901"
RPL_SASLSUCCESS = "903"
ERR_SASLFAIL = "904"
ERR_SASLTOOLONG = "905"
ERR_SASLABORTED = "906"
ERR_SASLALREADY = "907"
RPL_SASLMECHS = "908"

CHUNK = 400
# The longest answer taken, in bytes of base64: room for a PLAIN login with
# the longest password.
MAX_ANSWER = 4 * CHUNK + CHUNK // 2

REGISTRATION_CAP = "draft/account-registration"


def cap_values(conn: IRCConnection) -> dict[str, str]:
    """The account capabilities offered to C{conn}, with their values."""
    accounts = conn.hub.accounts
    if accounts is None:
        return {}
    mechanisms = sasl.mechanisms(asks_certificate(conn.transport))
    offered = {"sasl": ",".join(mechanisms), "account-notify": "", "account-tag": "",
               "extended-join": ""}
    if accounts.registration_open:
        offered[REGISTRATION_CAP] = "before-connect"
    return offered


class SaslState:
    """An exchange in progress on one connection, and the answer so far."""

    __slots__ = ("exchange", "answer", "checking")

    def __init__(self, exchange: sasl.Exchange):
        self.exchange = exchange
        self.answer: list[str] = []
        self.checking: Deferred | None = None


def _mask(conn: IRCConnection) -> str:
    return f"{conn.nick}!{conn.username or '*'}@{display_host(conn.peer_host)}"


def logged_in(conn: IRCConnection, account: Account) -> None:
    """C{conn} is now logged in to C{account}: say so (900), and tell the hub."""
    conn.account = account
    if conn.user is not None:
        conn.hub.set_account(conn.user, account.name)
    conn.numeric(RPL_LOGGEDIN, _mask(conn), account.name,
                 f"You are now logged in as {account.name}")
    conn.log.info("{peer} logged in to account {account}", peer=conn.peer_host,
                  account=account.name)


# SASL

@command("AUTHENTICATE", 1, before_registration=True, nonempty=1)
def authenticate(conn: IRCConnection, user: User | None, message: Message) -> None:
    accounts = conn.hub.accounts
    if accounts is None or "sasl" not in conn.caps:
        conn.numeric(ERR_SASLFAIL, "SASL authentication failed: request the sasl capability")
        return
    data = message.params[0]
    state: SaslState | None = conn.sasl
    if data == "*":
        conn.sasl = None
        if state is not None and state.checking is not None:
            state.checking.cancel()
        conn.numeric(ERR_SASLABORTED if state else ERR_SASLFAIL,
                     "SASL authentication aborted")
        conn.sasl_settled()
        return
    if state is None:
        _start(conn, data)
        return
    if state.checking is not None:
        # The client did not wait for the previous answer's verdict.
        _fail(conn, "an answer is still being checked")
        return
    if len(data) > CHUNK:
        conn.sasl = None
        conn.numeric(ERR_SASLTOOLONG, "SASL message too long")
        conn.sasl_settled()
        return
    if data != "+":
        state.answer.append(data)
        if sum(map(len, state.answer)) > MAX_ANSWER:
            conn.sasl = None
            conn.numeric(ERR_SASLTOOLONG, "SASL message too long")
            conn.sasl_settled()
            return
        if len(data) == CHUNK:
            return
    encoded, state.answer = "".join(state.answer), []
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        _fail(conn, "that is not base64")
        return
    state.checking = checking = state.exchange.step(decoded)
    checking.addCallbacks(_stepped, _refused, callbackArgs=(conn, state),
                          errbackArgs=(conn, state))
    conn.wait_for(checking)


def _start(conn: IRCConnection, mechanism: str) -> None:
    # SASL 3.2: once registered, a client may log in again (to another
    # account, say); before that, once is enough.
    if conn.account is not None and conn.user is None:
        conn.numeric(ERR_SASLALREADY, "You have already authenticated using SASL")
        return
    try:
        external = asks_certificate(conn.transport)
        exchange = sasl.start(conn.hub.accounts, mechanism, conn.peer_host,
                              certificate_fingerprint(conn.transport), external)
    except sasl.SaslFailed:
        conn.numeric(RPL_SASLMECHS, ",".join(sasl.mechanisms(external)),
                     "are available SASL mechanisms")
        conn.numeric(ERR_SASLFAIL, "SASL authentication failed: no such mechanism")
        return
    conn.sasl = SaslState(exchange)
    conn.line("AUTHENTICATE", "+", source="")


def _fail(conn: IRCConnection, why: str) -> None:
    conn.sasl = None
    conn.numeric(ERR_SASLFAIL, f"SASL authentication failed: {why}")
    conn.sasl_settled()


def _stepped(step: sasl.Step, conn: IRCConnection, state: SaslState) -> None:
    state.checking = None
    if conn.sasl is not state or not conn.connected_still():
        return
    if step.account is not None:
        conn.sasl = None
        logged_in(conn, step.account)
        conn.numeric(RPL_SASLSUCCESS, "SASL authentication successful")
        conn.sasl_settled()
        return
    encoded = base64.b64encode(step.challenge or b"").decode("ascii")
    for start in range(0, len(encoded), CHUNK):
        conn.line("AUTHENTICATE", encoded[start:start + CHUNK], source="")
    if not encoded or len(encoded) % CHUNK == 0:
        conn.line("AUTHENTICATE", "+", source="")


def _refused(failure: Failure, conn: IRCConnection, state: SaslState) -> None:
    state.checking = None
    if conn.sasl is not state or not conn.connected_still():
        return
    if failure.check(sasl.SaslFailed, LoginLimited, LoginFailed):
        _fail(conn, str(failure.value).rstrip("."))
        return
    if failure.check(errors.ChatError):
        _fail(conn, str(failure.value).rstrip("."))
        return
    conn.log.failure("SASL check failed", failure)
    _fail(conn, "internal error")


# Registering an account

_REGISTER_FAILURES = (
    (AccountExists, "ACCOUNT_EXISTS"),
    (errors.ErroneousNick, "BAD_ACCOUNT_NAME"),
    (RegistrationClosed, "TEMPORARILY_UNAVAILABLE"),
    (LoginLimited, "TEMPORARILY_UNAVAILABLE"),
)


@command("REGISTER", 3, before_registration=True, nonempty=3)
def register(conn: IRCConnection, user: User | None, message: Message) -> None:
    name, email, password = message.params[:3]
    accounts = conn.hub.accounts
    if accounts is None:
        conn.line("FAIL", "REGISTER", "TEMPORARILY_UNAVAILABLE", name,
                  "This server has no accounts")
        return
    nick_ = conn.nick if conn.nick != "*" else (conn.wanted_nick or "*")
    if name == "*":
        name = nick_
    if name == "*":
        conn.line("FAIL", "REGISTER", "NEED_NICK", "*", "Choose a nickname first")
        return
    if conn.account is not None:
        conn.line("FAIL", "REGISTER", "ALREADY_AUTHENTICATED", name,
                  f"You are already logged in as {conn.account.name}")
        return
    from ....core import names
    if names.fold(name) != names.fold(nick_):
        conn.line("FAIL", "REGISTER", "ACCOUNT_NAME_MUST_BE_NICK", name,
                  "The account name must be your nickname")
        return
    try:
        holder = conn.hub.find_user(name)
    except errors.NoSuchNick:
        holder = None
    if holder is not None and holder is not user:
        conn.line("FAIL", "REGISTER", "ACCOUNT_EXISTS", name,
                  f"Somebody is using the nickname {name}")
        return
    made = accounts.register(name, password, email)
    made.addCallbacks(_registered, _not_registered, callbackArgs=(conn,),
                      errbackArgs=(conn, name, email))
    conn.hold_registration(made)


def _registered(account: Account, conn: IRCConnection) -> None:
    if not conn.connected_still():
        return
    conn.line("REGISTER", "SUCCESS", account.name,
              f"Account {account.name} registered; you are logged in")
    logged_in(conn, account)


def _not_registered(failure: Failure, conn: IRCConnection, name: str, email: str) -> None:
    if not conn.connected_still():
        return
    for kind, code in _REGISTER_FAILURES:
        if failure.check(kind):
            conn.line("FAIL", "REGISTER", code, name, str(failure.value))
            return
    if failure.check(BadPassword):
        problem = str(failure.value)
        code = "INVALID_EMAIL" if "e-mail" in problem else "WEAK_PASSWORD"
        conn.line("FAIL", "REGISTER", code, email if code == "INVALID_EMAIL" else name,
                  problem)
        return
    conn.log.failure("Registering an account failed", failure)
    conn.line("FAIL", "REGISTER", "TEMPORARILY_UNAVAILABLE", name, "Internal error")


@command("VERIFY", 2, before_registration=True)
def verify(conn: IRCConnection, user: User | None, message: Message) -> None:
    conn.line("FAIL", "VERIFY", "INVALID_CODE", message.params[0],
              "This server verifies no e-mail: accounts are ready as soon as registered")


# PASS account:password

def login_with_pass(conn: IRCConnection, given: str) -> Deferred | None:
    """
    Log in with C{PASS account:password} (or C{account password}), as
    registration ends; the Deferred fires when the check is done, after a
    failure has been told.  C{None} if C{given} names no account.
    """
    accounts = conn.hub.accounts
    name, sep, password = given.partition(":")
    if not sep:
        name, sep, password = given.partition(" ")
    if accounts is None or not sep or not name or not password:
        return None
    checking = accounts.login(name, password, conn.peer_host)

    def refused(failure: Failure) -> None:
        failure.trap(LoginFailed, LoginLimited)
        if conn.connected_still():
            conn.numeric(ERR_SASLFAIL, f"Login failed: {str(failure.value).rstrip('.')}")
    checking.addCallbacks(lambda account: conn.connected_still() and logged_in(conn, account),
                          refused)
    return checking
