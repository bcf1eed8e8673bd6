"""
Tests for L{chatservice.frontends.broadcast}: a busy room's messages in one
turn kept once for its members, each of whom receives exactly what one call
per message would have given, in the same order.
"""

import random

from twisted.internet.task import Clock

from chatservice.core.hub import Hub
from chatservice.core.rooms import Audience
from chatservice.frontends.broadcast import SMALLEST_SHARED_GROUP, Broadcasts
from chatservice.frontends.sendqueue import Flusher, SendQueue

from unit_helpers import CountingTransport


class Member:
    """A client as an audience lists it: a renderer, and its queue's write."""

    renderer = object()

    def __init__(self, flusher, limit=10**9):
        self.transport = CountingTransport()
        self.overflowed = False
        self.queue = SendQueue(self.transport, limit, self._overflow, flusher)
        self.send = self.queue.write

    @property
    def client(self):
        """As a hub's user: the member is its own client."""
        return self

    def _overflow(self):
        self.overflowed = True


def room(count, limit=10**9):
    """A clock, a Broadcasts, and an audience of C{count} members."""
    clock = Clock()
    flusher = Flusher(clock)
    members = [Member(flusher, limit) for _ in range(count)]
    return clock, Broadcasts(clock), members, Audience(members)


def sends_of(audience):
    [(_, sends)] = audience.groups
    return sends


def test_each_member_gets_the_turn_in_one_write():
    """Every member gets a turn's messages, in order, in one write."""
    clock, broadcasts, members, audience = room(10)
    for number in range(5):
        broadcasts.send(sends_of(audience), b"m%d\r\n" % number)
    clock.advance(0)
    for member in members:
        assert member.transport.writes == [b"m0\r\nm1\r\nm2\r\nm3\r\nm4\r\n"]


def test_the_turn_is_joined_once_for_everybody():
    """Members who took the whole turn are written the very same bytes object."""
    clock, broadcasts, members, audience = room(10)
    for number in range(3):
        broadcasts.send(sends_of(audience), b"m%d\r\n" % number)
    clock.advance(0)
    written = {id(member.transport.writes[0]) for member in members}
    assert len(written) == 1


def test_the_sender_does_not_get_their_own_messages():
    """The member skipped for a message gets the others, in order."""
    clock, broadcasts, members, audience = room(10)
    sends = sends_of(audience)
    alice, bob = members[0], members[1]
    broadcasts.send(sends, b"a1\r\n", alice.send)
    broadcasts.send(sends, b"b1\r\n", bob.send)
    broadcasts.send(sends, b"a2\r\n", alice.send)
    broadcasts.send(sends, b"b2\r\n", bob.send)
    clock.advance(0)
    assert alice.transport.value() == b"b1\r\nb2\r\n"
    assert bob.transport.value() == b"a1\r\na2\r\n"
    assert members[2].transport.value() == b"a1\r\nb1\r\na2\r\nb2\r\n"


def test_other_output_keeps_its_place():
    """A write from elsewhere between two room messages is written between them."""
    clock, broadcasts, members, audience = room(10)
    sends = sends_of(audience)
    broadcasts.send(sends, b"r1\r\n")
    broadcasts.send(sends, b"r2\r\n")
    members[3].send(b"private\r\n")
    broadcasts.send(sends, b"r3\r\n")
    clock.advance(0)
    assert members[3].transport.value() == b"r1\r\nr2\r\nprivate\r\nr3\r\n"
    assert members[4].transport.value() == b"r1\r\nr2\r\nr3\r\n"


def test_two_rooms_interleaved():
    """Someone in two busy rooms gets both rooms' messages in the order given."""
    clock = Clock()
    flusher = Flusher(clock)
    broadcasts = Broadcasts(clock)
    both = Member(flusher)
    first = Audience([both] + [Member(flusher) for _ in range(9)])
    second = Audience([both] + [Member(flusher) for _ in range(9)])
    for number in range(3):
        broadcasts.send(sends_of(first), b"one%d\r\n" % number)
        broadcasts.send(sends_of(second), b"two%d\r\n" % number)
    clock.advance(0)
    assert both.transport.value() == b"one0\r\ntwo0\r\none1\r\ntwo1\r\none2\r\ntwo2\r\n"


def test_newcomer_gets_only_what_follows_their_join():
    """A member who joins during a turn gets none of the turn's earlier messages."""
    clock, broadcasts, members, audience = room(10)
    broadcasts.send(sends_of(audience), b"before1\r\n")
    broadcasts.send(sends_of(audience), b"before2\r\n")
    newcomer = Member(members[0].queue._flusher)
    audience = audience.with_member(newcomer)
    broadcasts.send(sends_of(audience), b"after\r\n")
    clock.advance(0)
    assert newcomer.transport.value() == b"after\r\n"
    assert members[0].transport.value() == b"before1\r\nbefore2\r\nafter\r\n"


def test_leaver_gets_nothing_after_leaving():
    """A member who leaves during a turn gets none of the turn's later messages."""
    clock, broadcasts, members, audience = room(10)
    broadcasts.send(sends_of(audience), b"one\r\n")
    broadcasts.send(sends_of(audience), b"two\r\n")
    audience = audience.without(members[5])
    broadcasts.send(sends_of(audience), b"three\r\n")
    clock.advance(0)
    assert members[5].transport.value() == b"one\r\ntwo\r\n"
    assert members[6].transport.value() == b"one\r\ntwo\r\nthree\r\n"


def test_a_member_not_reading_holds_and_is_given_up():
    """A paused member's queue holds each message, counted against its limit."""
    clock, broadcasts, members, audience = room(10, limit=30)
    sends = sends_of(audience)
    slow = members[2]
    broadcasts.send(sends, b"0123456789\r\n")
    slow.queue.pauseProducing()
    broadcasts.send(sends, b"0123456789\r\n")
    assert not slow.overflowed
    broadcasts.send(sends, b"0123456789\r\n")
    assert slow.overflowed
    clock.advance(0)
    assert slow.transport.value() == b""
    assert members[3].transport.value() == b"0123456789\r\n" * 3


def test_paused_while_sharing_holds_what_it_shared():
    """A member paused after taking a share counts the share as held and writes it on resume."""
    clock, broadcasts, members, audience = room(10)
    sends = sends_of(audience)
    broadcasts.send(sends, b"a\r\n")
    broadcasts.send(sends, b"b\r\n")
    members[1].queue.pauseProducing()
    assert members[1].queue.held_bytes == 6
    broadcasts.send(sends, b"c\r\n")
    clock.advance(0)
    assert members[1].transport.value() == b""
    members[1].queue.resumeProducing()
    assert members[1].transport.value() == b"a\r\nb\r\nc\r\n"


def test_detach_writes_the_shares():
    """A queue detached before its connection closes writes its shares spelled out."""
    clock, broadcasts, members, audience = room(10)
    sends = sends_of(audience)
    broadcasts.send(sends, b"a\r\n")
    broadcasts.send(sends, b"b\r\n")
    members[0].queue.detach()
    broadcasts.send(sends, b"c\r\n")
    clock.advance(0)
    assert members[0].transport.value() == b"a\r\nb\r\n"
    assert members[1].transport.value() == b"a\r\nb\r\nc\r\n"


def test_sends_that_are_not_queues_are_called_each_time():
    """A send that is not a queue's write is called once per message."""
    clock, broadcasts, members, audience = room(10)
    seen = []

    class Other:
        renderer = Member.renderer
        send = seen.append
        client = property(lambda self: self)

    audience = audience.with_member(Other())
    for word in (b"x", b"y", b"z"):
        broadcasts.send(sends_of(audience), word)
    assert seen == [b"x", b"y", b"z"]


def test_small_groups_go_call_by_call():
    """A group under the smallest shared size is written message by message."""
    clock, broadcasts, members, audience = room(SMALLEST_SHARED_GROUP - 1)
    broadcasts.send(sends_of(audience), b"a\r\n")
    broadcasts.send(sends_of(audience), b"b\r\n")
    assert members[0].queue._pending == [b"a\r\n", b"b\r\n"]
    clock.advance(0)
    assert members[0].transport.value() == b"a\r\nb\r\n"


def test_a_flush_mid_turn_does_not_lose_later_messages():
    """Messages given after the queues were written in the same turn are written next."""
    clock, broadcasts, members, audience = room(10)
    sends = sends_of(audience)
    broadcasts.send(sends, b"a\r\n")
    broadcasts.send(sends, b"b\r\n")
    members[0].queue._flusher.flush()
    broadcasts.send(sends, b"c\r\n")
    clock.advance(0)
    for member in members:
        assert member.transport.value() == b"a\r\nb\r\nc\r\n"


def test_install_once_per_hub():
    """Installing twice on one hub keeps the first Broadcasts."""
    hub = Hub(Clock())
    Broadcasts.install(hub)
    first = hub.send_to_group
    Broadcasts.install(hub)
    assert hub.send_to_group == first
    assert isinstance(first.__self__, Broadcasts)


def test_random_turns_match_one_call_per_message():
    """
    Over random turns of messages, private writes, joins, departures,
    pauses and flushes, every member receives exactly what one call per
    message gives.
    """
    for seed in range(40):
        chooser = random.Random(seed)
        clock = Clock()
        flusher = Flusher(clock)
        broadcasts = Broadcasts(clock)
        people = [Member(flusher) for _ in range(14)]
        expected = {id(person): [] for person in people}
        rooms = [Audience(people[:10]), Audience(people[4:])]
        inside = [set(map(id, people[:10])), set(map(id, people[4:]))]
        for step in range(300):
            action = chooser.random()
            if action < 0.6:
                which = chooser.randrange(2)
                members = [p for p in people if id(p) in inside[which]]
                sender = chooser.choice(members + [None])
                data = b"%d:%d\r\n" % (which, step)
                broadcasts.send(sends_of(rooms[which]), data,
                                sender.send if sender else None)
                for person in members:
                    if person is not sender:
                        expected[id(person)].append(data)
            elif action < 0.7:
                person = chooser.choice(people)
                data = b"private %d\r\n" % step
                person.send(data)
                expected[id(person)].append(data)
            elif action < 0.8:
                which = chooser.randrange(2)
                person = chooser.choice(people)
                if id(person) in inside[which]:
                    if len(inside[which]) > 1:
                        rooms[which] = rooms[which].without(person)
                        inside[which].discard(id(person))
                else:
                    rooms[which] = rooms[which].with_member(person)
                    inside[which].add(id(person))
            elif action < 0.87:
                person = chooser.choice(people)
                if chooser.random() < 0.5:
                    person.queue.pauseProducing()
                else:
                    person.queue.resumeProducing()
            else:
                clock.advance(0)
        for person in people:
            person.queue.resumeProducing()
        clock.advance(0)
        for person in people:
            assert person.transport.value() == b"".join(expected[id(person)]), seed
