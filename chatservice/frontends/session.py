"""
The state machine every front end's connection goes through:

    signing in  --signed_in(user)-->  signed in  --hang_up(reason)-->  gone
        \\--------------------hang_up(reason)------------------------/

While signing in, input goes to the front end's C{before_sign_in} (a line
front end's nickname prompt, IRC's registration); once signed in, to
C{after_sign_in} with the hub's user; once gone, nowhere.  Hanging up a
signed-in connection signs its user out of the hub, exactly once.
"""

from __future__ import annotations

from typing import Protocol

from ..core.hub import User


class Session(Protocol):
    """The inputs of a connection's session."""

    def received(self, item: object) -> None:
        """A line (or a parsed message) arrived from the client."""

    def signed_in(self, user: User) -> None:
        """The hub accepted the client under C{user}."""

    def hang_up(self, reason: str) -> None:
        """The connection is ending, for C{reason}."""


class SessionCore(Protocol):
    """What a front end's connection does in each state."""

    def before_sign_in(self, session: Session, item: object) -> None:
        """Handle input before signing in; call C{session.signed_in} to sign in."""

    def welcome(self, user: User) -> None:
        """The client has just signed in."""

    def after_sign_in(self, user: User, item: object) -> None:
        """Handle input from a signed-in client."""

    def sign_out(self, user: User, reason: str) -> None:
        """The signed-in client's connection is ending."""


class SessionMachine:
    """
    A connection's session: which of C{core}'s methods its input goes to,
    by state (signing in, signed in as a user, gone).

    Written out rather than built with C{automat}: an automat machine costs
    four objects (about 200 bytes) per connection, and an idle server holds
    ten thousand of them; this one is one object of three slots.
    """

    __slots__ = ("_core", "_user", "_gone")

    def __init__(self, core: SessionCore):
        self._core = core
        self._user: User | None = None
        self._gone = False

    def received(self, item: object) -> None:
        """A line (or a parsed message) arrived from the client."""
        if self._gone:
            return
        if self._user is None:
            self._core.before_sign_in(self, item)
        else:
            self._core.after_sign_in(self._user, item)

    def signed_in(self, user: User) -> None:
        """The hub accepted the client under C{user}; only once, and only while signing in."""
        if self._gone or self._user is not None:
            raise RuntimeError("signed_in is only valid while signing in")
        self._user = user
        self._core.welcome(user)

    def hang_up(self, reason: str) -> None:
        """The connection is ending: a signed-in user is signed out, once."""
        if self._gone:
            return
        self._gone = True
        user, self._user = self._user, None
        if user is not None:
            self._core.sign_out(user, reason)
