"""
What the service pseudo-users (NickServ, ChanServ) share: their address,
how they answer, and how they answer later, once the accounts' store or a
password check has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from ....core import errors, names
from ....core.hub import User

if TYPE_CHECKING:
    from ..protocol import IRCConnection


class Service:
    """One service pseudo-user: C{NAME!NAME@services}, answering in NOTICEs."""

    def __init__(self, name: str):
        self.name = name
        self.source = f"{name}!{name}@services"

    def addressed(self, target: str) -> bool:
        """Whether C{target} names this service."""
        return names.fold(target) == names.fold(self.name)

    def say(self, conn: IRCConnection, text: str) -> None:
        conn.line("NOTICE", conn.nick, text, source=self.source)

    def run(self, conn: IRCConnection, user: User, checking: Deferred,
            done: Callable) -> None:
        """
        Answer with C{done(result)} once C{checking} fires, if C{user} is
        still served; a refusal is said as it is, anything else as a
        failure (logged).  The client's next lines wait meanwhile.
        """
        def succeeded(result) -> None:
            if conn.serving(user):
                done(result)

        def failed(failure: Failure) -> None:
            if not conn.serving(user):
                return
            if failure.check(errors.ChatError):
                self.say(conn, str(failure.value))
            else:
                conn.log.failure("{service} failed", failure, service=self.name)
                self.say(conn, "Sorry, that failed; try again later.")
        checking.addCallbacks(succeeded, failed)
        conn.wait_for(checking)
