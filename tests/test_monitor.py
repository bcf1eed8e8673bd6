"""
The hub's watchlist (MONITOR's core), without any front end: who watches
which nick, the limit, and what watchers are handed.
"""

from __future__ import annotations

from twisted.internet.task import Clock

from chatservice.core.events import AwayChanged, PresenceChanged
from chatservice.core.hub import Hub
from chatservice.core.monitor import Watchlist


class Watcher:
    """A client that records what the watchlist hands it."""

    def __init__(self):
        self.events = []
        self.renderer = lambda event: b""

    def send(self, data: bytes) -> None:
        pass

    def watched(self, event) -> None:
        self.events.append(event)


class Deaf:
    """A client with no MONITOR (like a line user): it is never handed anything."""

    renderer = staticmethod(lambda event: b"")

    def send(self, data: bytes) -> None:
        pass


def test_presence_on_sign_in_rename_and_quit():
    """Sign-in, a nick change to and from the nick, and quitting reach the watcher."""
    hub = Hub(Clock())
    watcher = Watcher()
    alice = hub.register("alice", watcher)
    hub.watchlist.add(alice, ["Bob"])
    bob = hub.register("bob", Deaf())
    hub.rename(bob, "bobby")
    hub.rename(bob, "BOB")
    hub.quit(bob)
    seen = [(type(e), e.source.nick, e.online) for e in watcher.events]
    assert seen == [(PresenceChanged, "bob", True), (PresenceChanged, "bob", False),
                    (PresenceChanged, "BOB", True), (PresenceChanged, "BOB", False)]


def test_no_event_id_spent_without_watchers():
    """Nobody watching: signing in makes no event (ids stay as they were)."""
    hub = Hub(Clock())
    hub.register("alice", Deaf())
    assert hub._last_id == 0


def test_limit_and_duplicates():
    """Watching a nick twice holds one entry; past the limit the rest are refused."""
    hub = Hub(Clock())
    alice = hub.register("alice", Watcher())
    watchlist = Watchlist(limit=2)
    assert watchlist.add(alice, ["a", "A", "b", "c"]) == (["a", "A", "b"], ["c"])
    assert watchlist.watching(alice) == ["a", "b"]
    watchlist.remove(alice, ["B", "zzz"])
    assert watchlist.watching(alice) == ["a"]
    assert watchlist.watchers("A") == [alice]
    watchlist.clear(alice)
    assert watchlist.watchers("a") == [] and watchlist.watching(alice) == []


def test_follow_skips_neighbours_and_deaf_clients():
    """Away changes go to watchers who were not told as neighbours; clients without MONITOR get nothing."""
    hub = Hub(Clock())
    watcher = Watcher()
    alice = hub.register("alice", watcher)
    hub.register("deaf", Deaf())
    bob = hub.register("bob", Deaf())
    hub.watchlist.add(alice, ["bob"])
    hub.watchlist.add(hub.find_user("deaf"), ["bob"])
    hub.set_away(bob, "afk")
    assert [type(e) for e in watcher.events[-1:]] == [AwayChanged]
    hub.join(alice, "#room")
    hub.join(bob, "#room")
    count = len(watcher.events)
    hub.set_away(bob, "")
    assert len(watcher.events) == count
