"""
Joins announced together (core.arrivals): line clients get the joins to a
room within one reactor turn as one line, in order with everything else;
IRC clients get each JOIN as before.  Fake clock and transports: a "turn"
ends when a client's output is taken (L{unit_helpers.end_of_turn}).
"""

from __future__ import annotations

from twisted.internet.task import Clock

from chatservice.core.arrivals import SPACING
from chatservice.core.events import Joined, JoinedTogether
from chatservice.core.hub import Hub
from chatservice.core.limits import Limits
from chatservice.core.rooms import Audience

from irc_helpers import MixedServer
from unit_helpers import LineServer


def arrive(server, *nicks: str) -> list:
    """Line clients choosing C{nicks} one after another within one turn."""
    clients = [server.connect() for _ in nicks]
    for client, nick in zip(clients, nicks):
        client.line(nick)
    return clients


def test_one_join_is_its_own_line():
    """A lone join in a turn reads as it always did."""
    server = LineServer()
    watcher = server.sign_in("watcher")
    arrive(server, "alice")
    assert watcher.take() == ["*** alice joined #lobby"]


def test_two_joins_in_one_turn():
    """Two joins in one turn are one line naming both."""
    server = LineServer()
    watcher = server.sign_in("watcher")
    arrive(server, "alice", "bob")
    assert watcher.take() == ["*** alice and bob joined #lobby"]


def test_three_joins_in_one_turn():
    """Three joins in one turn are one line naming all three, in the order they came."""
    server = LineServer()
    watcher = server.sign_in("watcher")
    arrive(server, "carol", "alice", "bob")
    assert watcher.take() == ["*** carol, alice and bob joined #lobby"]


def test_many_joins_in_one_turn():
    """Thirty-seven joins in one turn are one line: the first two named, and how many others."""
    server = LineServer(Limits(max_per_address=100))
    watcher = server.sign_in("watcher")
    nicks = ["alice", "bob", *(f"guest{i}" for i in range(35))]
    arrive(server, *nicks)
    assert watcher.take() == ["*** alice, bob and 35 others joined #lobby"]
    assert len(server.hub.find_room("#lobby").members) == 38


def test_a_flood_of_joins_is_one_line_per_member():
    """Five hundred sign-ins in one turn cost each member one line, and the count is exact."""
    server = LineServer(Limits(max_per_address=1000))
    watchers = [server.sign_in(f"w{i}") for i in range(3)]
    for watcher in watchers:
        watcher.take()
    arrive(server, *(f"n{i}" for i in range(500)))
    for watcher in watchers:
        assert watcher.take() == ["*** n0, n1 and 498 others joined #lobby"]


def test_joiners_in_the_same_turn_see_only_later_joins():
    """Who joined in the turn is told of those after them, never of themselves or earlier ones."""
    server = LineServer()
    alice, bob, carol = arrive(server, "alice", "bob", "carol")
    assert alice.take()[-3:] == [
        "*** You joined #lobby; nobody else is here.",
        "*** #lobby has no topic.",
        "*** bob and carol joined #lobby",
    ]
    assert bob.take()[-3:] == [
        "*** You joined #lobby; 1 other here.",
        "*** #lobby has no topic.",
        "*** carol joined #lobby",
    ]
    assert carol.take()[-2:] == [
        "*** You joined #lobby; 2 others here.",
        "*** #lobby has no topic.",
    ]


def test_join_then_part_in_one_turn_keeps_the_order():
    """A join and a part of the same person in one turn reach the others as join, then part."""
    server = LineServer()
    watcher = server.sign_in("watcher")
    (alice,) = arrive(server, "alice")
    alice.line("/part #lobby bye")
    assert watcher.take() == ["*** alice joined #lobby", "*** alice left #lobby (bye)"]


def test_joins_around_a_message_are_not_merged_across_it():
    """Joins before and after a message in one turn are two lines, with the message between."""
    server = LineServer()
    watcher = server.sign_in("watcher")
    alice, bob = arrive(server, "alice", "bob")
    bob.line("hello")
    arrive(server, "carol", "dave")
    assert watcher.take() == [
        "*** alice and bob joined #lobby",
        "[#lobby] <bob> hello",
        "*** carol and dave joined #lobby",
    ]


def test_join_then_disconnect_in_one_turn():
    """Someone who joins and drops in one turn is seen to join, then to quit."""
    server = LineServer()
    watcher = server.sign_in("watcher")
    alice, bob = arrive(server, "alice", "bob")
    alice.lose()
    assert watcher.take() == ["*** alice and bob joined #lobby",
                              "*** alice quit (Connection reset)"]


def test_join_then_nick_change_in_one_turn():
    """A join and a nick change in one turn read in that order, under the old nick first."""
    server = LineServer()
    watcher = server.sign_in("watcher")
    (alice,) = arrive(server, "alice")
    alice.line("/nick alicia")
    assert watcher.take() == ["*** alice joined #lobby",
                              "*** alice is now known as alicia"]


def test_irc_clients_get_each_join():
    """IRC clients get one JOIN per person, while line clients in the same room get one line."""
    server = MixedServer(Limits(flood_control=False))
    irc = server.register("ircwatch")
    irc.line("JOIN #lobby")
    irc.take()
    line = server.sign_in_line("linewatch")
    irc.take()
    clients = [server.connect_line() for _ in range(3)]
    for client, nick in zip(clients, ("alice", "bob", "carol")):
        client.line(nick)
    # Sent at once, before the turn ends (only the send queue is flushed).
    server.irc_factory.flusher.flush()
    joins = irc.transport.value().decode().splitlines()
    assert [line.split()[1:] for line in joins] == [["JOIN", "#lobby"]] * 3
    assert [line.split("!")[0] for line in joins] == [":alice", ":bob", ":carol"]
    assert line.take() == ["*** alice, bob and carol joined #lobby"]


def test_irc_joiner_is_told_to_line_clients_together():
    """An IRC user's join reaches line clients merged with the line users' joins of the same turn."""
    server = MixedServer(Limits(flood_control=False))
    line = server.sign_in_line("linewatch")
    irc = server.register("ircuser")
    client = server.connect_line()
    irc.line("JOIN #lobby")
    client.line("bob")
    assert line.take() == ["*** ircuser and bob joined #lobby"]


# The hub and the audience, without front ends

class Client:
    """A client whose renderer says which events it got."""

    def __init__(self, renderer):
        self.renderer = renderer
        self.got: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.got.append(data)


def _names(event) -> bytes:
    if isinstance(event, JoinedTogether):
        return b"+".join(j.source.nick.encode() for j in event.joins)
    if isinstance(event, Joined):
        return event.source.nick.encode()
    return type(event).__name__.encode()


def merging(event) -> bytes:
    return _names(event)


merging.merges_joins = True


def each(event) -> bytes:
    return _names(event)


def test_hub_holds_joins_until_the_end_of_the_turn():
    """The hub tells merging renderers at the end of the turn, others at once, and counts both."""
    clock = Clock()
    hub = Hub(clock)
    watcher, plain = Client(merging), Client(each)
    for nick, client in (("watcher", watcher), ("plain", plain)):
        hub.join(hub.register(nick, client), "#r")
    clock.advance(0)
    watcher.got.clear()
    plain.got.clear()
    before = hub.stats.deliveries
    for nick in ("a", "b", "c"):
        hub.join(hub.register(nick, Client(merging)), "#r")
    assert plain.got == [b"a", b"b", b"c"]
    assert watcher.got == []
    # The setup's joins were announced a moment ago: these wait their turn.
    clock.advance(SPACING)
    assert watcher.got == [b"a+b+c"]
    # plain: 3, watcher: 1, a: "b+c", b: "c".
    assert hub.stats.deliveries - before == 3 + 1 + 2
    assert not hub.arrivals


def test_audience_copies_leave_earlier_audiences_alone():
    """An audience taken before a join or a part still lists who was there then."""
    clock = Clock()
    hub = Hub(clock)
    alice, bob = Client(each), Client(each)
    user_a = hub.register("alice", alice)
    room, _ = hub.join(user_a, "#r")
    before = room.audience()
    user_b = hub.register("bob", bob)
    hub.join(user_b, "#r")
    after_join = room.audience()
    hub.part(user_a, "#r")
    after_part = room.audience()
    assert [len(sends) for _, sends in before.groups] == [1]
    assert [len(sends) for _, sends in after_join.groups] == [2]
    assert after_part.send_of(alice) is None and after_part.send_of(bob) is not None
    # Kept copies agree with an audience built afresh from the members.
    fresh = Audience(room.members.values())
    assert [(r, list(s)) for r, s in fresh.groups] == [(r, list(s)) for r, s in
                                                      after_part.groups]


def test_announcement_when_newcomers_are_not_last():
    """If a rebuilt audience puts the turn's newcomers before an older member, everyone is still told right."""
    clock = Clock()
    hub = Hub(clock)
    watcher = Client(merging)
    watcher_user = hub.register("watcher", watcher)
    room, _ = hub.join(watcher_user, "#r")
    clock.advance(0)
    a, b = Client(merging), Client(merging)
    hub.join(hub.register("a", a), "#r")
    hub.join(hub.register("b", b), "#r")
    # The watcher now comes last in the members, and the audience is rebuilt.
    room.members[watcher_user.key] = room.members.pop(watcher_user.key)
    room.changed()
    clock.advance(0)
    assert watcher.got == [b"a+b"]
    assert a.got == [b"b"]
    assert b.got == []


def test_each_merging_renderer_renders_once():
    """Two kinds of merging clients each get the crowd rendered their way, once per kind."""
    calls = []

    def other(event) -> bytes:
        calls.append(event)
        return b"other:" + _names(event)

    other.merges_joins = True
    clock = Clock()
    hub = Hub(clock)
    first, second = Client(merging), Client(other)
    third = Client(other)
    for nick, client in (("first", first), ("second", second), ("third", third)):
        hub.join(hub.register(nick, client), "#r")
    clock.advance(0)
    for client in (first, second, third):
        client.got.clear()
    calls.clear()
    for nick in ("x", "y"):
        hub.join(hub.register(nick, Client(merging)), "#r")
    clock.advance(SPACING)
    assert first.got == [b"x+y"]
    assert second.got == third.got == [b"other:x+y"]
    assert len(calls) == 1


def test_audience_before_a_departure_still_knows_who_left():
    """An audience taken before somebody left still finds their send (to skip them when they kicked themselves)."""
    clock = Clock()
    hub = Hub(clock)
    alice, bob = Client(each), Client(each)
    room, _ = hub.join(hub.register("alice", alice), "#r")
    hub.join(hub.register("bob", bob), "#r")
    before = room.audience()
    hub.quit(hub.find_user("bob"))
    assert before.send_of(bob) is not None
    assert room.audience().send_of(bob) is None


def test_joins_soon_after_an_announcement_wait_for_the_spacing():
    """Joins soon after an announcement wait until SPACING after it; a lone join after a quiet spell is told at once."""
    clock = Clock()
    hub = Hub(clock)
    watcher = Client(merging)
    hub.join(hub.register("watcher", watcher), "#r")
    clock.advance(10)
    hub.join(hub.register("a", Client(merging)), "#r")
    clock.advance(0)
    assert watcher.got == [b"a"]
    clock.advance(0.1)
    hub.join(hub.register("b", Client(merging)), "#r")
    clock.advance(0)
    clock.advance(0.1)
    hub.join(hub.register("c", Client(merging)), "#r")
    clock.advance(0)
    assert watcher.got == [b"a"]
    clock.advance(SPACING - 0.2)
    assert watcher.got == [b"a", b"b+c"]


def test_an_event_does_not_wait_for_the_spacing():
    """A message after held joins goes out at once, the joins just before it."""
    clock = Clock()
    hub = Hub(clock)
    watcher = Client(merging)
    hub.join(hub.register("watcher", watcher), "#r")
    clock.advance(0)
    bob = hub.register("bob", Client(merging))
    hub.join(bob, "#r")
    hub.say(bob, "#r", "hi")
    assert watcher.got == [b"bob", b"Message"]
