"""
Login tokens over IRC, for clients that keep a token rather than a password
(the web page's "remember me"; see L{chatservice.core.tokens}).

Wire protocol
=============
A registered client logged in to an account asks for a token with
``TOKEN NEW [:<label>]`` (the label says where the token lives: the page
sends its browser's user agent; control characters are blanked and it is
cut to 100 characters) and gets ``TOKEN NEW <id> <secret>``: the secret
(``chatservice-token:`` and 43 characters of URL-safe base64) is sent this
once and never kept by the server, which keeps its SHA-256.  The client
later logs in with the secret as the password of SASL PLAIN (or ``PASS
account:secret``, or NickServ IDENTIFY), for the account it belongs to.

``TOKEN REVOKE <secret>`` revokes that token (the page's "log out"), and is
answered ``TOKEN REVOKED <id>``.  Refusals are standard replies: ``FAIL
TOKEN ACCOUNT_REQUIRED * :<why>`` (not logged in), ``FAIL TOKEN
INVALID_TOKEN * :<why>`` (no such token), ``FAIL TOKEN INVALID_PARAMS *
:<why>`` (another subcommand), ``FAIL TOKEN TEMPORARILY_UNAVAILABLE *
:<why>`` (no accounts, or the store failed).  People list and revoke their
tokens with ``NS TOKENS`` (L{nickserv}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.python.failure import Failure

from ....core.hub import User
from ..wire import Message
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection


def _fail(conn: IRCConnection, code: str, why: str) -> None:
    conn.line("FAIL", "TOKEN", code, "*", why)


@command("TOKEN", 1, nonempty=1)
def token(conn: IRCConnection, user: User, message: Message) -> None:
    accounts = conn.hub.accounts
    if accounts is None:
        _fail(conn, "TEMPORARILY_UNAVAILABLE", "This server has no accounts")
        return
    verb = message.params[0].upper()
    if verb == "NEW":
        if not user.account:
            _fail(conn, "ACCOUNT_REQUIRED", "Log in to an account first")
            return
        label = message.params[1] if len(message.params) > 1 else ""
        made = accounts.issue_token(user.account, label)
        made.addCallbacks(lambda made: conn.serving(user) and conn.line(
            "TOKEN", "NEW", made[1].id, made[0]), _broken, errbackArgs=(conn, user))
        conn.wait_for(made)
    elif verb == "REVOKE" and len(message.params) > 1:
        def revoked(found) -> None:
            if not conn.serving(user):
                return
            if found is None:
                _fail(conn, "INVALID_TOKEN", "No such login token (revoked or expired already)")
            else:
                conn.line("TOKEN", "REVOKED", found.id)
        revoking = accounts.revoke_secret(message.params[1])
        revoking.addCallbacks(revoked, _broken, errbackArgs=(conn, user))
        conn.wait_for(revoking)
    else:
        _fail(conn, "INVALID_PARAMS", "Usage: TOKEN NEW [:label] | TOKEN REVOKE <secret>")


def _broken(failure: Failure, conn: IRCConnection, user: User) -> None:
    conn.log.failure("A login token command failed", failure)
    if conn.serving(user):
        _fail(conn, "TEMPORARILY_UNAVAILABLE", "That failed; try again later")
