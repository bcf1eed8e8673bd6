"""
Who watches which nicknames (IRC's MONITOR), whatever front end the watched
person uses: a line user or a browser signing on is seen like an IRC client.

The hub tells the watchlist when a nickname comes online (sign-in, a nick
change to it) or goes offline (sign-out, a nick change away from it), and
when a watched person changes something that watchers may follow (away, real
name: IRC's extended-monitor).  The watchlist hands each watcher's client a
L{PresenceChanged} or that event through the client's optional C{watched}
method; a client without one (a front end with no MONITOR) is never told.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from . import names
from .events import Event, PresenceChanged

if TYPE_CHECKING:
    from .hub import User

# Nicknames one person may watch (IRC's ISUPPORT MONITOR=).
WATCH_LIMIT = 100


class Watchlist:
    """The nicknames each user watches, and the watchers of each nickname."""

    def __init__(self, limit: int = WATCH_LIMIT):
        self.limit = limit
        # Folded nick -> the users watching it.
        self._watchers: dict[str, set[User]] = {}
        # User -> folded nick -> the nick as they wrote it.
        self._watching: dict[User, dict[str, str]] = {}

    def watching(self, user: User) -> list[str]:
        """The nicknames C{user} watches, as they wrote them, in the order added."""
        return list(self._watching.get(user, {}).values())

    def add(self, user: User, nicks: Iterable[str]) -> tuple[list[str], list[str]]:
        """
        Watch C{nicks} (already valid nicknames).  Return those now watched
        (including ones already watched) and those refused for the limit.
        """
        mine = self._watching.setdefault(user, {})
        added, refused = [], []
        for nick in nicks:
            key = names.fold(nick)
            if key not in mine and len(mine) >= self.limit:
                refused.append(nick)
                continue
            mine.setdefault(key, nick)
            self._watchers.setdefault(key, set()).add(user)
            added.append(nick)
        if not mine:
            del self._watching[user]
        return added, refused

    def remove(self, user: User, nicks: Iterable[str]) -> None:
        """Stop C{user} watching C{nicks}."""
        mine = self._watching.get(user)
        if not mine:
            return
        for nick in nicks:
            key = names.fold(nick)
            if mine.pop(key, None) is not None:
                watchers = self._watchers[key]
                watchers.discard(user)
                if not watchers:
                    del self._watchers[key]
        if not mine:
            del self._watching[user]

    def clear(self, user: User) -> None:
        """Stop C{user} watching anything (MONITOR C, or signing out)."""
        self.remove(user, list(self._watching.get(user, {}).values()))

    def watchers(self, nick: str) -> list[User]:
        return list(self._watchers.get(names.fold(nick), ()))

    def presence(self, user: User, online: bool, stamp: Callable[[], tuple[int, float]],
                 skip: User | None = None) -> None:
        """
        Tell those watching C{user}'s nickname that it came online or went
        offline (C{skip} aside: someone renaming is not told of themselves).
        C{stamp} makes the event's id and time, only if someone is told.
        """
        watchers = self._watchers.get(user.key)
        if not watchers:
            return
        event = PresenceChanged(*stamp(), user.source, online)
        for watcher in list(watchers):
            if watcher is not skip:
                _tell(watcher, event)

    def follow(self, user: User, event: Event, told: Iterable[User] = ()) -> None:
        """
        Hand C{event} (C{user} went away, changed their real name) to those
        watching C{user} who were not C{told} already as their neighbours.
        """
        watchers = self._watchers.get(user.key)
        if not watchers:
            return
        already = {id(member) for member in told}
        for watcher in list(watchers):
            if watcher is not user and id(watcher) not in already:
                _tell(watcher, event)


def _tell(watcher: User, event: Event) -> None:
    watched = getattr(watcher.client, "watched", None)
    if watched is not None:
        watched(event)
