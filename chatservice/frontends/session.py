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

from automat import TypeMachineBuilder

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


_builder = TypeMachineBuilder(Session, SessionCore)
signing_in = _builder.state("signing_in")
signed_in = _builder.state("signed_in", lambda session, core, user: user)
gone = _builder.state("gone")


@signing_in.upon(Session.received).loop()
def _before(session: Session, core: SessionCore, item: object) -> None:
    core.before_sign_in(session, item)


@signing_in.upon(Session.signed_in).to(signed_in)
def _welcome(session: Session, core: SessionCore, user: User) -> None:
    core.welcome(user)


@signing_in.upon(Session.hang_up).to(gone)
def _leave_unsigned(session: Session, core: SessionCore, reason: str) -> None:
    pass


@signed_in.upon(Session.received).loop()
def _after(session: Session, core: SessionCore, user: User, item: object) -> None:
    core.after_sign_in(user, item)


@signed_in.upon(Session.hang_up).to(gone)
def _sign_out(session: Session, core: SessionCore, user: User, reason: str) -> None:
    core.sign_out(user, reason)


gone.upon(Session.received).loop().returns(None)
gone.upon(Session.hang_up).loop().returns(None)

SessionMachine = _builder.build()
