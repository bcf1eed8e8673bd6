"""
Room operators by account: whoever creates a room while logged in becomes
its founder, and the founder may name account operators; both get operator
status back on every join, across restarts (the roles are kept by the
account store).  The default room has no founder: its operators are the
server's operators.

Roles are read from the store when a logged-in person joins, so operator
status arrives a moment after the join, from the server, as a mode change
(as a services bot would give it).

A plain mode change names operators too: C{+o} given by the founder to a
member logged in to an account makes that account an operator for good, and
C{-o} by the founder forgets it (the rule of C{/op} and C{/deop}, so that an
IRC client's op button is enough).  Changes by anyone else, or on people
without an account, last only while they stay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from . import errors, names
from .accounts import FOUNDER, OPERATOR, Accounts
from .rooms import ModeChange, RoomMode

if TYPE_CHECKING:
    from .hub import Hub, User
    from .rooms import Room


class RoomRoles:
    """Founders and account operators, for one hub."""

    log = Logger()

    def __init__(self, hub: Hub, accounts: Accounts):
        self.hub = hub
        self.accounts = accounts

    def _counts(self, room: Room) -> bool:
        return room.key != names.fold(self.hub.default_room)

    def joined(self, user: User, room: Room, created: bool) -> None:
        """
        C{user} joined C{room} (which the join C{created}): found it, give
        its founder or operators their status back, or take away the status
        the first joiner of an empty room gets when the room has a founder.
        """
        account = user.account
        first = len(room.members) == 1 and room.is_operator(user)
        if not self._counts(room) or (account is None and not first):
            return
        reading = self.accounts.store.room_roles(room.key)

        def decide(roles: dict[str, str]) -> None:
            if not roles:
                # Whoever created it founded it, even if they left since.
                if created and account is not None:
                    self.accounts.store.set_room_role(room.key, account, FOUNDER)
                    self.log.info("{account} founded {room}", account=account,
                                  room=room.name)
                return
            if user.account != account or not room.is_member(user):
                return
            if account is not None and names.fold(account) in roles:
                self.hub.grant_operator(user, room.name)
            elif first:
                # The room has a founder: joining it empty is not enough.
                self.hub.grant_operator(user, room.name, adding=False)
        # On a later turn of the reactor even when the store answers at once
        # (in memory): the joiner's front end shows the join first.
        reading.addCallback(lambda roles: self.hub.clock.callLater(0, decide, roles))
        reading.addErrback(lambda failure: self.log.failure("Reading room roles failed",
                                                            failure))

    def modes_changed(self, user: User, room: Room, applied: list[ModeChange]) -> None:
        """
        C{user} changed C{room}'s modes (C{applied}, as applied): if they
        founded it, remember (or forget) the operators they named by account.
        """
        wanted = [c for c in applied if c.mode is RoomMode.OPERATOR and c.argument]
        if not wanted or user.account is None or not self._counts(room):
            return
        founder = names.fold(user.account)
        reading = self.accounts.store.room_roles(room.key)

        def remember(roles: dict[str, str]) -> None:
            if roles.get(founder) != FOUNDER:
                return
            for change in wanted:
                try:
                    target = self.hub.find_user(change.argument or "")
                except errors.NoSuchNick:
                    continue
                account = target.account
                if account is None or roles.get(names.fold(account)) == FOUNDER:
                    continue
                self.accounts.store.set_room_role(room.key, account,
                                                  OPERATOR if change.adding else None)
                self.log.info("{founder} {verb} {account} as operator of {room}",
                              founder=user.account, account=account, room=room.name,
                              verb="named" if change.adding else "dropped")
        reading.addCallback(remember)
        reading.addErrback(lambda failure: self.log.failure("Keeping room roles failed",
                                                            failure))

    def set_operator(self, user: User, room_name: str, nick: str,
                     adding: bool) -> Deferred[str]:
        """
        As the founder of a room, make the account C{nick} is logged in to
        one of its operators (or, not C{adding}, no longer); what happened,
        as a sentence.  Refusals are failures with L{errors.ChatError}.
        """
        room = self.hub.find_room(room_name)
        target = self.hub.find_user(nick)
        if user.account is None:
            raise errors.NotOperator("Log in first: room roles belong to accounts.")
        if target.account is None:
            raise errors.ChatError(f"{target.nick} is not logged in to an account.")
        reading = self.accounts.store.room_roles(room.key)

        def change(roles: dict[str, str]) -> Deferred[str]:
            if roles.get(names.fold(user.account or "")) != FOUNDER:
                raise errors.NotOperator(f"Only the founder of {room.name} names its "
                                         "operators.")
            if roles.get(names.fold(target.account or "")) == FOUNDER:
                raise errors.ChatError(f"{target.nick} founded {room.name}.")
            if adding and room.is_member(target):
                self.hub.grant_operator(target, room.name)
            done = self.accounts.store.set_room_role(room.key, target.account,
                                                     OPERATOR if adding else None)
            verb = "is now an operator of" if adding else "is no longer an operator of"
            return done.addCallback(lambda _: f"{target.account} {verb} {room.name}.")
        return reading.addCallback(change)
