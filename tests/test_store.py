"""
Tests for the stores (L{chatservice.store.memory.MemoryStore} and
L{chatservice.store.sqlite.SQLiteStore}, the latter searching with its
full-text index and with LIKE): one class of tests runs against each, so that
they keep the same contract.
"""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from chatservice.core.events import (
    Joined,
    Kicked,
    Kind,
    Message,
    ModeChanged,
    NickChanged,
    Parted,
    Quit,
    Signal,
    Source,
    TopicChanged,
)
from chatservice.core.history import Point, Query, RoomState
from chatservice.core.rooms import Ban, ModeChange, RoomMode
from chatservice.store.memory import MemoryStore
from chatservice.store.sqlite import DirectReads, SQLiteStore
from unit_helpers import result

BOB = Source("Bob", "bob", "bob.example")
ALICE = Source("Alice", "~alice", "2001:db8::1")


def say(id, text="hello", room="#room", time=None, source=BOB, kind=Kind.SAY):
    """A message with id C{id}, at time C{id} unless given."""
    return Message(id, float(id) if time is None else time, source, room, text, kind)


@pytest.fixture(params=["memory", "sqlite", "sqlite-like"])
def store(request, tmp_path):
    """Each store, on a fake clock; SQLite reads run at once in the test's thread."""
    clock = Clock()
    clock.advance(1_000_000)
    if request.param == "memory":
        made = MemoryStore(clock)
    else:
        made = SQLiteStore(str(tmp_path / "chatservice.sqlite3"), clock, reads=DirectReads,
                           fts=request.param == "sqlite")
    yield made
    made.close()


class TestStore:
    """The contract every store keeps."""

    def fill(self, store, count=10, room="#room"):
        """Messages 1 to C{count} in C{room}; returns them."""
        events = [say(id, f"message {id}", room=room) for id in range(1, count + 1)]
        for event in events:
            store.record(room, event)
        return events

    def ids(self, store, query, room="#room"):
        return [event.id for event in result(store.query(room, query))]

    # Reading back in every direction

    def test_latest(self, store):
        """A query without points returns the newest events, oldest first."""
        self.fill(store)
        assert self.ids(store, Query(3)) == [8, 9, 10]

    def test_latest_more_than_there_are(self, store):
        """A limit above the number of events returns them all."""
        self.fill(store, 4)
        assert self.ids(store, Query(100)) == [1, 2, 3, 4]

    def test_oldest(self, store):
        """newest=False keeps the oldest events that match."""
        self.fill(store)
        assert self.ids(store, Query(3, newest=False)) == [1, 2, 3]

    def test_after_id(self, store):
        """after an id returns the events after it (exclusive), the oldest first."""
        self.fill(store)
        assert self.ids(store, Query(3, after=Point(id=4), newest=False)) == [5, 6, 7]

    def test_after_id_newest(self, store):
        """after an id with newest=True keeps the newest of those after it."""
        self.fill(store)
        assert self.ids(store, Query(3, after=Point(id=4))) == [8, 9, 10]

    def test_before_id(self, store):
        """before an id returns the newest events before it (exclusive)."""
        self.fill(store)
        assert self.ids(store, Query(3, before=Point(id=6))) == [3, 4, 5]

    def test_before_id_oldest(self, store):
        """before an id with newest=False keeps the oldest of those before it."""
        self.fill(store)
        assert self.ids(store, Query(2, before=Point(id=6), newest=False)) == [1, 2]

    def test_between_ids(self, store):
        """after and before together bound both ends, both exclusive."""
        self.fill(store)
        assert self.ids(store, Query(100, after=Point(id=3), before=Point(id=7))) == [4, 5, 6]

    def test_after_time(self, store):
        """after a time returns events later than it (exclusive)."""
        self.fill(store)
        assert self.ids(store, Query(2, after=Point(time=5.0), newest=False)) == [6, 7]
        assert self.ids(store, Query(2, after=Point(time=5.5), newest=False)) == [6, 7]

    def test_before_time(self, store):
        """before a time returns events earlier than it (exclusive)."""
        self.fill(store)
        assert self.ids(store, Query(2, before=Point(time=5.0))) == [3, 4]

    def test_between_times(self, store):
        """Times bound both ends too, and mix with ids."""
        self.fill(store)
        assert self.ids(store, Query(100, after=Point(time=2.5), before=Point(id=6))) == [3, 4, 5]

    def test_empty_range(self, store):
        """A range with nothing in it returns nothing."""
        self.fill(store)
        assert self.ids(store, Query(10, after=Point(id=6), before=Point(id=7))) == []

    def test_unknown_room(self, store):
        """A room with no history returns nothing."""
        self.fill(store)
        assert self.ids(store, Query(10), room="#other") == []

    def test_rooms_apart(self, store):
        """Each room reads only its own events."""
        self.fill(store, 3, room="#a")
        store.record("#b", say(10, room="#b"))
        assert self.ids(store, Query(10), room="#a") == [1, 2, 3]
        assert self.ids(store, Query(10), room="#b") == [10]

    def test_floor(self, store):
        """floor leaves out events whose id is below it, whatever the limit."""
        self.fill(store)
        assert self.ids(store, Query(100, floor=7)) == [7, 8, 9, 10]
        assert self.ids(store, Query(2, floor=7, newest=False)) == [7, 8]
        assert self.ids(store, Query(100, floor=7, before=Point(id=9))) == [7, 8]

    def test_messages_only(self, store):
        """messages_only keeps messages, actions and notices, nothing else."""
        store.record("#room", say(1))
        store.record("#room", Joined(2, 2.0, ALICE, "#room"))
        store.record("#room", say(3, kind=Kind.ACTION))
        store.record("#room", Parted(4, 4.0, ALICE, "#room", "bye"))
        store.record("#room", say(5, kind=Kind.NOTICE))
        assert self.ids(store, Query(100, messages_only=True)) == [1, 3, 5]
        assert self.ids(store, Query(2, messages_only=True)) == [3, 5]
        assert self.ids(store, Query(100)) == [1, 2, 3, 4, 5]

    def test_limit_one(self, store):
        """A limit of one returns one event."""
        self.fill(store)
        assert self.ids(store, Query(1)) == [10]
        assert self.ids(store, Query(1, newest=False)) == [1]

    def test_large_ids(self, store):
        """Ids are microsecond timestamps: they come back whole."""
        base = 1_767_225_600_123_456
        for offset in range(3):
            store.record("#room", say(base + offset, time=1_767_225_600.123456 + offset))
        assert self.ids(store, Query(2)) == [base + 1, base + 2]
        assert self.ids(store, Query(5, after=Point(id=base))) == [base + 1, base + 2]

    # Every kind of event comes back as it went in

    def test_round_trip(self, store):
        """Every kind of room event comes back equal to what was recorded."""
        events = [
            Message(1, 1000.25, BOB, "#Room", "hello, world", Kind.SAY),
            Message(2, 1000.5, BOB, "#Room", "waves", Kind.ACTION),
            Message(3, 1000.75, ALICE, "#Room", "notice: ünïcödé ✓", Kind.NOTICE),
            Joined(4, 1001.0, ALICE, "#Room"),
            Parted(5, 1002.0, ALICE, "#Room", "see you"),
            Parted(6, 1002.5, ALICE, "#room", ""),
            Quit(7, 1003.0, BOB, "Quit: bye"),
            NickChanged(8, 1004.0, BOB, "Robert"),
            TopicChanged(9, 1005.0, ALICE, "#Room", "the topic"),
            TopicChanged(10, 1005.5, ALICE, "#Room", ""),
            Kicked(11, 1006.0, ALICE, "#Room", "Bob", "behave"),
            ModeChanged(12, 1007.0, ALICE, "#Room", (
                ModeChange(True, RoomMode.MODERATED),
                ModeChange(True, RoomMode.KEY, "*"),
                ModeChange(False, RoomMode.LIMIT),
                ModeChange(True, RoomMode.BAN, "*!*@bad.example"),
                ModeChange(False, RoomMode.OPERATOR, "Bob"),
            )),
            ModeChanged(13, 1008.0, ALICE, "#Room", ()),
        ]
        for event in events:
            store.record("#room", event)
        assert result(store.query("#room", Query(100))) == events

    def test_time_round_trip(self, store):
        """A time comes back as the very same float."""
        when = 1_767_225_600.1234567
        store.record("#room", say(1, time=when))
        assert result(store.query("#room", Query(1)))[0].time == when

    def test_event_in_several_rooms(self, store):
        """A quit or nick change recorded in several rooms is read back in each."""
        quit = Quit(5, 5.0, BOB, "gone")
        nick = NickChanged(4, 4.0, BOB, "Bobby")
        for room in ("#a", "#b"):
            store.record(room, nick)
            store.record(room, quit)
        assert result(store.query("#a", Query(10))) == [nick, quit]
        assert result(store.query("#b", Query(10))) == [nick, quit]
        assert self.ids(store, Query(10, after=Point(id=4)), room="#b") == [5]

    def test_stored_counts(self, store):
        """stored counts events recorded; dropped stays 0 while nothing is dropped."""
        self.fill(store, 5)
        store.record("#other", Quit(6, 6.0, BOB, ""))
        result(store.query("#room", Query(1)))
        assert (store.stored, store.dropped) == (6, 0)

    # Search

    def search(self, store, words, limit=20, floor=0, room="#room"):
        return [event.id for event in result(store.search(room, words, limit, floor))]

    # Editing history: redaction and renaming

    def test_forget_event(self, store):
        """A forgotten (redacted) event is no longer read back, nor found by search."""
        self.fill(store, 3)
        store.forget_event("#room", 2)
        assert self.ids(store, Query(10)) == [1, 3]
        assert self.search(store, "message 2") == []

    def test_forget_event_other_room_untouched(self, store):
        """Forgetting an id in one room leaves other rooms alone."""
        self.fill(store, 2)
        self.fill(store, 2, room="#other")
        store.forget_event("#room", 1)
        assert self.ids(store, Query(10), room="#other") == [1, 2]

    def test_forget_unknown_event(self, store):
        """Forgetting an id that is not there changes nothing."""
        self.fill(store, 2)
        store.forget_event("#room", 99)
        assert self.ids(store, Query(10)) == [1, 2]

    def test_move_history(self, store):
        """Moved history is read under the new key, its events naming the new room."""
        self.fill(store, 3)
        store.move_history("#room", "#hall", "#Hall")
        assert self.ids(store, Query(10)) == []
        events = result(store.query("#hall", Query(10)))
        assert [event.id for event in events] == [1, 2, 3]
        assert {event.room for event in events} == {"#Hall"}

    def test_tagmsg_kept_with_its_tags(self, store):
        """A TAGMSG comes back with its tags as given (any characters), only to readers of every event, never in a search, and moves with its room."""
        tags = (("+draft/react", "; \\ \u00e9\u263a"), ("+draft/reply", "1"), ("+flag", ""))
        store.record("#room", say(1))
        store.record("#room", Signal(2, 2.0, ALICE, "#Room", tags))
        assert result(store.query("#room", Query(10))) == [say(1), Signal(2, 2.0, ALICE, "#Room", tags)]
        assert self.ids(store, Query(10, messages_only=True)) == [1]
        assert self.search(store, "react") == []
        store.move_history("#room", "#hall", "#Hall")
        assert result(store.query("#hall", Query(10)))[1] == Signal(2, 2.0, ALICE, "#Hall", tags)

    def test_search_every_word(self, store):
        """A search finds messages holding every one of its words, in any order."""
        store.record("#room", say(1, "the cat sat"))
        store.record("#room", say(2, "the dog sat"))
        store.record("#room", say(3, "a cat and a dog"))
        assert self.search(store, "cat") == [1, 3]
        assert self.search(store, "dog cat") == [3]
        assert self.search(store, "cat bird") == []

    def test_search_case(self, store):
        """Searches ignore case, also beyond ASCII."""
        store.record("#room", say(1, "Hello WORLD"))
        store.record("#room", say(2, "ÉCOLE d'été"))
        assert self.search(store, "hello world") == [1]
        assert self.search(store, "HELLO") == [1]
        assert self.search(store, "école ÉTÉ") == [2]

    def test_search_inside_words(self, store):
        """A word is found inside longer words, short words too."""
        store.record("#room", say(1, "unbelievable"))
        store.record("#room", say(2, "a b"))
        assert self.search(store, "believ") == [1]
        assert self.search(store, "be") == [1]
        assert self.search(store, "b") == [1, 2]

    def test_search_newest(self, store):
        """A search keeps the newest matches within its limit, oldest first."""
        for id in range(1, 8):
            store.record("#room", say(id, f"match {id}"))
        assert self.search(store, "match", limit=3) == [5, 6, 7]

    def test_search_floor(self, store):
        """A search leaves out messages below the floor."""
        for id in range(1, 6):
            store.record("#room", say(id, "match"))
        assert self.search(store, "match", floor=4) == [4, 5]

    def test_search_messages_only(self, store):
        """A search finds messages, actions and notices, not topics, parts or quits."""
        store.record("#room", TopicChanged(1, 1.0, BOB, "#room", "needle"))
        store.record("#room", Parted(2, 2.0, BOB, "#room", "needle"))
        store.record("#room", Quit(3, 3.0, BOB, "needle"))
        store.record("#room", say(4, "needle", kind=Kind.ACTION))
        store.record("#room", say(5, "needle", kind=Kind.NOTICE))
        assert self.search(store, "needle") == [4, 5]

    def test_search_one_room(self, store):
        """A search looks in one room only."""
        store.record("#a", say(1, "needle", room="#a"))
        store.record("#b", say(2, "needle", room="#b"))
        assert self.search(store, "needle", room="#a") == [1]
        assert self.search(store, "needle", room="#c") == []

    @pytest.mark.parametrize("words", [
        '"', '""', '"quoted"', '"unbalanced', "*", "star*", "NEAR(", "NEAR(a b)", "OR",
        "AND", "NOT", "-", "-minus", "^", "col:umn", "text:x", "(", ")", "{a b}", "+", "'",
        "%", "_", "\\", "a%b", "\x00", "'; DROP TABLE events; --",
    ])
    def test_search_hostile(self, store, words):
        """Query syntax in a search is only text: it is found where it occurs, and harms nothing."""
        store.record("#room", say(1, "plain text only"))
        text = f"before {words} after"
        store.record("#room", say(2, text))
        assert self.search(store, words) == [2]
        assert self.search(store, f"plain {words}") == []
        assert self.ids(store, Query(10)) == [1, 2]

    def test_search_many_words(self, store):
        """A search of a thousand words runs, and finds what holds them all."""
        words = [f"w{number}" for number in range(1000)]
        store.record("#room", say(1, " ".join(words)))
        store.record("#room", say(2, " ".join(words[:999])))
        assert self.search(store, " ".join(words)) == [1]
        assert self.search(store, " ".join(words) + " absent") == []

    def test_search_like_wildcards(self, store):
        """% and _ in a search match themselves only."""
        store.record("#room", say(1, "100% sure"))
        store.record("#room", say(2, "1000 sure"))
        store.record("#room", say(3, "snake_case"))
        store.record("#room", say(4, "snakeXcase"))
        assert self.search(store, "100%") == [1]
        assert self.search(store, "e_c") == [3]

    # Targets

    def test_targets(self, store):
        """targets lists the rooms with messages in the range and their latest, earliest first."""
        store.record("#a", say(1, room="#a", time=10.0))
        store.record("#a", say(2, room="#a", time=30.0))
        store.record("#b", say(3, room="#b", time=20.0))
        store.record("#c", say(4, room="#c", time=90.0))
        assert result(store.targets(["#a", "#b", "#c"], 0.0, 50.0, 10)) == [
            ("#b", 20.0), ("#a", 30.0)]

    def test_targets_either_order(self, store):
        """targets takes its two times in either order, and leaves both out."""
        store.record("#a", say(1, room="#a", time=10.0))
        store.record("#b", say(2, room="#b", time=20.0))
        store.record("#c", say(3, room="#c", time=30.0))
        assert result(store.targets(["#a", "#b", "#c"], 30.0, 10.0, 10)) == [("#b", 20.0)]

    def test_targets_by_latest_message(self, store):
        """A key whose latest message is after the window is not a target, though it had messages inside."""
        store.record("#a", say(1, room="#a", time=10.0))
        store.record("#a", say(2, room="#a", time=20.0))
        store.record("#b", say(3, room="#b", time=15.0))
        assert result(store.targets(["#a", "#b"], 0.0, 18.0, 10)) == [("#b", 15.0)]
        assert result(store.targets(["#a", "#b"], 0.0, 25.0, 10)) == [("#b", 15.0), ("#a", 20.0)]

    def test_keys_starting(self, store):
        """keys_starting lists the keys with events that begin with a prefix, in order, and no other."""
        for number, key in enumerate(["@amy>bob", "@amy>al", "@amx>z", "@amy?", "#amy", "@amyb>c"]):
            store.record(key, say(number + 1, room=key, time=10.0 + number))
        assert result(store.keys_starting("@amy>")) == ["@amy>al", "@amy>bob"]
        assert result(store.keys_starting("@nobody>")) == []

    def test_targets_messages_only(self, store):
        """Joins and other events do not make a room a target."""
        store.record("#a", Joined(1, 10.0, BOB, "#a"))
        store.record("#b", say(2, room="#b", time=5.0))
        store.record("#b", Parted(3, 11.0, BOB, "#b", ""))
        assert result(store.targets(["#a", "#b"], 0.0, 100.0, 10)) == [("#b", 5.0)]

    def test_targets_limit_and_rooms(self, store):
        """targets keeps the earliest within the limit, and only the rooms asked about."""
        for number in range(5):
            room = f"#r{number}"
            store.record(room, say(number + 1, room=room, time=10.0 + number))
        assert result(store.targets(["#r3", "#r1", "#r4", "#nowhere"], 0.0, 100.0, 2)) == [
            ("#r1", 11.0), ("#r3", 13.0)]
        assert result(store.targets([], 0.0, 100.0, 2)) == []

    # Rooms

    def state(self, name="#Room", **changes):
        fields = dict(name=name, created=100.5, topic="the topic", topic_by="Alice!a@h",
                      topic_time=200.25, flags=frozenset({RoomMode.SECRET, RoomMode.MODERATED}),
                      password="sesame", limit=10,
                      bans=(Ban("*!*@bad.example", "Alice", 300.0), Ban("eve!*@*", "Bob", 301.5),
                            Ban("m:loud!*@*", "Alice", 302.0)),
                      exceptions=(Ban("friend!*@*", "Alice", 303.0),),
                      ban_exceptions=(Ban("m:*!*evan@*", "Alice", 304.0),
                                      Ban("good!*@*", "Bob", 305.0)))
        fields.update(changes)
        return RoomState(**fields)

    def test_rooms_round_trip(self, store):
        """A saved room comes back equal, with its flags, password, limit, bans, mutes and exceptions in order."""
        saved = self.state()
        plain = RoomState("#plain", 5.0)
        store.save_room("#room", saved)
        store.save_room("#plain", plain)
        assert sorted(store.load_rooms(), key=lambda state: state.name) == [saved, plain]

    def test_rooms_replace(self, store):
        """Saving a room again replaces what was kept."""
        store.save_room("#room", self.state())
        changed = self.state(topic="", password=None, limit=None, bans=(), flags=frozenset())
        store.save_room("#room", changed)
        assert store.load_rooms() == [changed]

    def test_rooms_forget(self, store):
        """A forgotten room is no longer loaded; forgetting an unknown room does nothing."""
        store.save_room("#room", self.state())
        store.save_room("#other", self.state("#Other"))
        store.forget_room("#room")
        store.forget_room("#never")
        assert store.load_rooms() == [self.state("#Other")]

    def test_rooms_none(self, store):
        """A new store keeps no rooms."""
        assert store.load_rooms() == []

    def test_rooms_and_history_apart(self, store):
        """Forgetting a room keeps its history."""
        store.save_room("#room", self.state())
        store.record("#room", say(1))
        store.forget_room("#room")
        assert self.ids(store, Query(10)) == [1]

    # Ids

    def test_last_id_empty(self, store):
        """A new store's last id is 0."""
        assert store.last_id() == 0

    def test_last_id(self, store):
        """last_id is the highest id recorded, in any room."""
        store.record("#a", say(5, room="#a"))
        store.record("#b", say(9, room="#b"))
        store.record("#a", Quit(7, 7.0, BOB, ""))
        assert store.last_id() == 9
