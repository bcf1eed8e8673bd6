"""
Login tokens: revocable credentials that stand for an account's password,
for the web page's "remember me" (and any client that would rather keep a
token than a password).

A token is L{PREFIX} followed by 43 characters of URL-safe base64 (32
random bytes).  The prefix keeps tokens apart from passwords: a secret that
starts with it is checked as a token only, never as a password (and no
password may start with it), so a token is a credential of its own that can
be listed and revoked without touching the password.  The store keeps only
the SHA-256 of a token (a stolen database logs nobody in), with the
account, a label (the browser's user agent, say), when it was made and when
it was last used.  A token unused for L{LIFETIME} seconds (the option
C{--login-token-days}) expires; each use renews it.  An account has at most L{MAX_PER_ACCOUNT} tokens: making one
more forgets the one used longest ago.  Changing the password, or dropping
the account, revokes them all.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from twisted.internet.defer import Deferred, fail

from . import errors, names

if TYPE_CHECKING:
    from .accounts import Accounts

PREFIX = "chatservice-token:"
LIFETIME = 30 * 24 * 3600.0
MAX_PER_ACCOUNT = 20
LABEL_MAX = 100
# Characters of the digest that name a token when listing or revoking it.
ID_LENGTH = 8


@dataclass(frozen=True, slots=True)
class Token:
    """
    One token as the store keeps it.

    @ivar digest: the SHA-256 of the secret, in hex.
    @ivar account: the folded name of the account it logs in to.
    """

    digest: str
    account: str
    label: str
    created: float
    used: float

    @property
    def id(self) -> str:
        """A short public name for the token (the start of its digest)."""
        return self.digest[:ID_LENGTH]

    def expired(self, now: float, lifetime: float = LIFETIME) -> bool:
        return now >= self.used + lifetime


class TokenStore(Protocol):
    """Tokens that outlive restarts; the account store implements it too."""

    def add_token(self, token: Token, keep: int) -> Deferred[None]:
        """Keep C{token}; forget the account's tokens used longest ago past C{keep}."""

    def find_token(self, digest: str) -> Deferred[Token | None]:
        """The token whose secret has the SHA-256 C{digest}, if any."""

    def touch_token(self, digest: str, when: float) -> Deferred[None]:
        """Record that the token was used at C{when}."""

    def tokens(self, account: str) -> Deferred[list[Token]]:
        """An account's tokens, oldest first."""

    def revoke_tokens(self, account: str, id_: str | None = None) -> Deferred[int]:
        """
        Forget the account's token whose id is C{id_} (or, C{None}, every
        one); how many were forgotten.
        """


def is_token(secret: str) -> bool:
    """Whether C{secret} is a token rather than a password."""
    return secret.startswith(PREFIX)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def clean_label(text: str) -> str:
    """A label as kept: printable, one line, at most L{LABEL_MAX} characters."""
    label = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(label.split())[:LABEL_MAX] or "unnamed"


def make(account: str, label: str, now: float) -> tuple[str, Token]:
    """A new secret for C{account}, and the token the store keeps for it."""
    secret = new_secret()
    return secret, Token(digest(secret), names.fold(account), clean_label(label), now, now)


# The tokens command, the same on every front end (line chat's ``/tokens``,
# NickServ's ``TOKENS``): each answer is a list of lines to show.

USAGE = "Usage: TOKENS LIST | TOKENS NEW [label] | TOKENS REVOKE <id>|ALL"


def _day(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(when))


def command(accounts: Accounts, account: str | None,
            words: list[str]) -> Deferred[list[str]]:
    """Run one tokens command for whoever is logged in to C{account} (C{None}: nobody)."""
    if account is None:
        return fail(errors.ChatError("Log in to your account first."))
    verb = words[0].upper() if words else "LIST"
    if verb == "LIST" and len(words) <= 1:
        return accounts.list_tokens(account).addCallback(_listed, account)
    if verb == "NEW":
        label = " ".join(words[1:]) or "made by hand"
        return accounts.issue_token(account, label).addCallback(lambda made: [
            f"New login token {made[1].id} for {account}: {made[0]}",
            "It is shown this once: use it as the password (SASL PLAIN, PASS, /login); "
            f"unused for {accounts.token_lifetime / 86400:g} days it expires."])
    if verb == "REVOKE" and len(words) == 2:
        which = None if words[1].upper() == "ALL" else words[1].lower()

        def revoked(count: int) -> list[str]:
            if which is not None and not count:
                raise errors.ChatError(f"{account} has no token {words[1]}.")
            return [f"Revoked {count} login token{'' if count == 1 else 's'} of {account}."]
        return accounts.revoke_token(account, which).addCallback(revoked)
    return fail(errors.ChatError(USAGE))


def _listed(found: list[Token], account: str) -> list[str]:
    if not found:
        return [f"{account} has no login tokens."]
    return [f"Login tokens of {account} (id, made, last used, label):"] + [
        f"  {t.id}  {_day(t.created)}  {_day(t.used)}  {t.label}" for t in found]
