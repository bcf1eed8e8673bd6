"""
Joins announced together, for front ends that show them as lines of text.

When a crowd signs in to a big room (a restart, a class starting), every
join is announced to everyone already there: ten thousand members and a
thousand joins a second would be ten million lines a second to terminals
nobody can read.  A renderer that sets C{merges_joins = True} (the line front
end's) is instead handed, at the end of the reactor turn, one
L{JoinedTogether} for the joins to a room that came one after another in
that turn, and its clients get one line (C{*** alice, bob and 35 others
joined #lobby}).  Joins that come within L{SPACING} seconds of the last
announcement wait for the rest of that time and are announced together:
during a crowd's arrival each member gets a few lines a second, not one
each reactor turn (writing to ten thousand sockets every turn would itself
be what slows the crowd down).  Every other renderer (IRC, where each JOIN is the
protocol) gets each L{Joined} at once, as before.

Nobody misses a join they would have seen, and order is kept:

- the joins held are announced before anything else is told to
  anyone (a message, a part, a quit, a nick change...) and before anybody
  leaves a room, so that whatever came after a join still arrives after it;
- a member present before the first held join is told of all of them; one
  who joined in the same turn, of those after their own (as they would
  have been told one by one), and never of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from .events import Joined, JoinedTogether

if TYPE_CHECKING:
    from .hub import User
    from .rooms import Room


# The least time between two announcements of joins held (seconds): a
# join is told at most this late, and only in a crowd.
SPACING = 0.25


def merges_joins(renderer: object) -> bool:
    """Whether C{renderer} wants joins announced together."""
    return getattr(renderer, "merges_joins", False)


class Arrivals:
    """
    The joins held, per room, for the renderers that merge them, until the
    end of the reactor turn (or L{SPACING} after the last announcement, if
    that is later) or the next other event, whichever is first.

    C{delivered} is called with the number of clients each announcement
    reached, to count deliveries as the hub does.
    """

    def __init__(self, clock: IReactorTime, delivered: Callable[[int], None]):
        self._clock = clock
        self._delivered = delivered
        self._held: dict[Room, list[tuple[User, Joined]]] = {}
        self._call: IDelayedCall | None = None
        self._last = float("-inf")  # when joins were last announced

    def __bool__(self) -> bool:
        return bool(self._held)

    def hold(self, room: Room, user: User, event: Joined) -> None:
        """C{user} joined C{room} (and is a member now): announce it later."""
        self._held.setdefault(room, []).append((user, event))
        if self._call is None:
            wait = self._last + SPACING - self._clock.seconds()
            self._call = self._clock.callLater(max(0.0, wait), self.flush)

    def flush(self) -> None:
        """Announce every join held, room by room, in the order the rooms had them."""
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()
        held, self._held = self._held, {}
        if held:
            self._last = self._clock.seconds()
        for room, joins in held.items():
            self._announce(room, joins)

    def _announce(self, room: Room, joins: list[tuple[User, Joined]]) -> None:
        audience = room.audience()
        # Where each joiner's own output goes, and which of the joins
        # (those after theirs) it is to be told of; how many joiners each
        # renderer has.
        later_of = {}
        joiners: dict[object, int] = {}
        for position, (user, _) in enumerate(joins):
            client = user.client
            send = audience.send_of(client)
            if send is not None:
                later_of[send] = position + 1
                joiners[client.renderer] = joiners.get(client.renderer, 0) + 1
        events = tuple(event for _, event in joins)
        everyone = _together(room, events)
        delivered = 0
        for renderer, sends in audience.groups:
            if not merges_joins(renderer):
                continue
            data = renderer(everyone)
            if not data:
                continue
            # Newcomers are at the end of their group, in the order they
            # came: everyone before them is told of every join without a
            # lookup each (the hot path of a big room).
            newcomers = 0
            while newcomers < len(sends) and sends[-1 - newcomers] in later_of:
                newcomers += 1
            if newcomers == joiners.get(renderer, 0):
                earlier = sends[:len(sends) - newcomers]
                for send in earlier:
                    send(data)
                delivered += len(earlier)
                own_sends = sends[len(sends) - newcomers:]
            else:  # a group rebuilt in another order: look everyone up
                own_sends = [send for send in sends if send in later_of]
                for send in sends:
                    if send not in later_of:
                        send(data)
                        delivered += 1
            for send in own_sends:
                start = later_of[send]
                if start < len(events):
                    own = renderer(_together(room, events[start:]))
                    if own:
                        send(own)
                        delivered += 1
        self._delivered(delivered)


def _together(room: Room, events: tuple[Joined, ...]):
    """One join as itself, several as one L{JoinedTogether}."""
    if len(events) == 1:
        return events[0]
    last = events[-1]
    return JoinedTogether(last.id, last.time, room.name, events)
