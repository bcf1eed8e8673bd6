"""
Tests for L{chatservice.core.hub}: users, rooms and the events they cause.
"""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from chatservice.core import errors
from chatservice.core.events import (
    Joined,
    Kind,
    Message,
    NickChanged,
    Parted,
    PrivateMessage,
    Quit,
    Source,
    TopicChanged,
)
from chatservice.core.hub import REASON_MAX_LENGTH, TOPIC_MAX_LENGTH, Hub


class WireFormat:
    """
    A fake front end's renderer: renders an event as its id, counts the
    renderings and remembers each event so clients can report what they got.
    """

    def __init__(self, tag: bytes = b"w"):
        self.tag = tag
        self.calls: list = []
        self.by_data: dict[bytes, object] = {}

    def __call__(self, event) -> bytes:
        self.calls.append(event)
        data = self.tag + b"%d;" % event.id
        self.by_data[data] = event
        return data


class FakeClient:
    """A connection as the hub sees it: a shared renderer and a send method."""

    def __init__(self, renderer: WireFormat):
        self.renderer = renderer
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def events(self) -> list:
        """The events this client was sent, forgetting them."""
        sent, self.sent = self.sent, []
        return [self.renderer.by_data[data] for data in sent]


class Chat:
    """A hub on a fake clock, with a helper to sign people in."""

    def __init__(self):
        self.clock = Clock()
        self.clock.advance(1000)
        self.hub = Hub(self.clock)
        self.wire = WireFormat()

    def user(self, nick, host="1.2.3.4", username=None):
        client = FakeClient(self.wire)
        user = self.hub.register(nick, client, username=username, host=host)
        return user

    def in_room(self, nick, *rooms):
        user = self.user(nick)
        for room in rooms:
            self.hub.join(user, room)
        return user


def events(user):
    return user.client.events()


def clear(*users):
    for user in users:
        user.client.sent.clear()


@pytest.fixture
def chat():
    return Chat()


# Signing in and looking people up

def test_register(chat):
    """register returns a user with the nickname, its folded key, the host and the clock's time."""
    user = chat.user("Bob[x]", host="5.6.7.8")
    assert (user.nick, user.key, user.username, user.host, user.signed_on) == (
        "Bob[x]", "bob{x}", "Bob[x]", "5.6.7.8", 1000.0)
    assert user.rooms == {}
    assert chat.hub.user_count == 1
    assert chat.hub.users() == [user]


def test_register_username(chat):
    """register keeps an explicit user name for the source of the user's events."""
    user = chat.user("bob", username="robert")
    assert user.source == Source("bob", "robert", "1.2.3.4")


def test_register_invalid(chat):
    """register refuses a nickname that breaks the rules, saying why."""
    with pytest.raises(errors.ErroneousNick) as raised:
        chat.user("1bob")
    assert str(raised.value) == "A nickname cannot start with a digit or '-'."
    assert chat.hub.user_count == 0


@pytest.mark.parametrize("other", ["alice", "ALICE", "Alice"])
def test_register_taken(chat, other):
    """register refuses a nickname somebody has, whatever its case."""
    chat.user("alice")
    with pytest.raises(errors.NickInUse) as raised:
        chat.user(other)
    assert str(raised.value) == f"The nickname {other} is taken."
    assert chat.hub.user_count == 1


def test_register_taken_rfc1459(chat):
    """register refuses bob{away} when Bob[AWAY] is signed in."""
    chat.user("Bob[AWAY]")
    with pytest.raises(errors.NickInUse):
        chat.user("bob{away}")


def test_find_user_folds(chat):
    """find_user finds a user by any spelling that folds to the same key."""
    user = chat.user("Bob[x]")
    assert chat.hub.find_user("BOB{X}") is user


def test_find_user_missing(chat):
    """find_user raises NoSuchNick naming the nickname asked for."""
    with pytest.raises(errors.NoSuchNick) as raised:
        chat.hub.find_user("nobody")
    assert str(raised.value) == "Nobody is called nobody."


def test_invalid_default_room():
    """A hub refuses an invalid default room."""
    with pytest.raises(errors.InvalidRoomName):
        Hub(Clock(), default_room="lobby")


# Renaming

def test_rename(chat):
    """rename returns a NickChanged event from the old nick and tells everyone sharing a room."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("bob", "#a")
    carol = chat.in_room("carol", "#b")
    clear(alice, bob, carol)
    event = chat.hub.rename(alice, "alicia")
    assert isinstance(event, NickChanged)
    assert (event.source.nick, event.new_nick, event.time) == ("alice", "alicia", 1000.0)
    assert events(bob) == [event]
    assert events(alice) == []
    assert events(carol) == []
    assert alice.nick == "alicia"
    assert chat.hub.find_user("ALICIA") is alice


def test_rename_frees_old_nick(chat):
    """After a rename the old nickname is free and no longer finds the user."""
    alice = chat.user("alice")
    chat.hub.rename(alice, "alicia")
    with pytest.raises(errors.NoSuchNick):
        chat.hub.find_user("alice")
    assert chat.user("alice").nick == "alice"


def test_rename_same_nick(chat):
    """Renaming to the very same nickname returns None and tells nobody."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("bob", "#a")
    clear(alice, bob)
    assert chat.hub.rename(alice, "alice") is None
    assert events(bob) == []


def test_rename_case_only(chat):
    """Changing only the case of one's nickname is allowed and announced."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("bob", "#a")
    clear(alice, bob)
    event = chat.hub.rename(alice, "ALICE")
    assert event.new_nick == "ALICE"
    assert alice.nick == "ALICE"
    assert events(bob) == [event]
    assert chat.hub.find_user("alice") is alice
    assert chat.hub.user_count == 2


@pytest.mark.parametrize("taken", ["bob", "BOB"])
def test_rename_taken(chat, taken):
    """Renaming to somebody else's nickname, in any case, is refused and changes nothing."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("bob", "#a")
    clear(alice, bob)
    with pytest.raises(errors.NickInUse):
        chat.hub.rename(alice, taken)
    assert alice.nick == "alice"
    assert chat.hub.find_user("bob") is bob
    assert events(bob) == []


def test_rename_invalid(chat):
    """Renaming to an invalid nickname is refused."""
    alice = chat.user("alice")
    with pytest.raises(errors.ErroneousNick):
        chat.hub.rename(alice, "al ice")
    assert alice.nick == "alice"


def test_rename_case_only_invalid(chat):
    """A rename that folds to the same key is still refused when the new nickname breaks the rules."""
    user = chat.user("a^")
    with pytest.raises(errors.ErroneousNick):
        chat.hub.rename(user, "a~")
    assert user.nick == "a^"


def test_rename_keeps_memberships(chat):
    """A renamed user is still a member of their rooms, under the new key."""
    alice = chat.in_room("alice", "#a", "#b")
    bob = chat.in_room("bob", "#a")
    chat.hub.rename(alice, "Zed")
    room = chat.hub.find_room("#a")
    assert room.members == {"bob": bob, "zed": alice}
    assert chat.hub.find_room("#b").members == {"zed": alice}
    clear(bob)
    message = chat.hub.say(alice, "#a", "hi")
    assert events(bob) == [message]
    assert message.source.nick == "Zed"
    chat.hub.part(alice, "#a")
    assert list(room.members) == ["bob"]


# Rooms

def test_join_creates_room(chat):
    """Joining a room that does not exist creates it and returns a Joined event."""
    alice = chat.user("alice")
    room, event = chat.hub.join(alice, "#Rust")
    assert (room.name, room.key, room.created, room.topic) == ("#Rust", "#rust", 1000.0, "")
    assert room.members == {"alice": alice}
    assert alice.rooms == {"#rust": room}
    assert isinstance(event, Joined)
    assert (event.source.nick, event.room) == ("alice", "#Rust")
    assert chat.hub.rooms() == [room]
    assert chat.hub.find_room("#RUST") is room


def test_join_again(chat):
    """Joining a room one is already in returns the room and no event, and tells nobody."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("bob", "#a")
    clear(alice, bob)
    room, event = chat.hub.join(alice, "#A")
    assert event is None
    assert room is chat.hub.find_room("#a")
    assert events(bob) == []


def test_join_tells_members(chat):
    """Joining tells the members already there, but not the one who joins."""
    alice = chat.in_room("alice", "#a")
    carol = chat.in_room("carol", "#b")
    bob = chat.user("bob")
    clear(alice, carol)
    room, event = chat.hub.join(bob, "#a")
    assert events(alice) == [event]
    assert events(bob) == []
    assert events(carol) == []
    assert list(room.members) == ["alice", "bob"]


def test_join_uses_existing_name(chat):
    """Joining under another case uses the room's name as it was created."""
    chat.in_room("alice", "#Lobby")
    bob = chat.user("bob")
    room, event = chat.hub.join(bob, "#LOBBY")
    assert room.name == event.room == "#Lobby"
    assert len(chat.hub.rooms()) == 1


@pytest.mark.parametrize("name", ["lobby", "#a b", "#a,b", "#", "#" + "x" * 50])
def test_join_invalid(chat, name):
    """Joining an invalid room name raises InvalidRoomName and creates nothing."""
    alice = chat.user("alice")
    with pytest.raises(errors.InvalidRoomName):
        chat.hub.join(alice, name)
    assert chat.hub.rooms() == []
    assert alice.rooms == {}


def test_part(chat):
    """Parting tells the remaining members, with the reason, and not the one who leaves."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("bob", "#a")
    clear(alice, bob)
    event = chat.hub.part(bob, "#A", "bye\x1b[1m now")
    assert isinstance(event, Parted)
    assert (event.source.nick, event.room, event.reason) == ("bob", "#a", "bye now")
    assert events(alice) == [event]
    assert events(bob) == []
    assert list(chat.hub.find_room("#a").members) == ["alice"]
    assert bob.rooms == {}


def test_part_reason_truncated(chat):
    """A part reason is cut to its maximum length."""
    alice = chat.in_room("alice", "#a")
    event = chat.hub.part(alice, "#a", "x" * 1000)
    assert event.reason == "x" * REASON_MAX_LENGTH


def test_part_last_member_removes_room(chat):
    """A room that its last member leaves ceases to exist."""
    alice = chat.in_room("alice", "#a", "#b")
    chat.hub.part(alice, "#a")
    with pytest.raises(errors.NoSuchRoom) as raised:
        chat.hub.find_room("#a")
    assert str(raised.value) == "There is no room called #a."
    assert [room.name for room in chat.hub.rooms()] == ["#b"]


def test_part_not_in_room(chat):
    """Parting a room one is not in raises NotInRoom."""
    chat.in_room("alice", "#a")
    bob = chat.user("bob")
    with pytest.raises(errors.NotInRoom) as raised:
        chat.hub.part(bob, "#a")
    assert str(raised.value) == "You are not in #a."


def test_part_no_such_room(chat):
    """Parting a room that does not exist raises NoSuchRoom."""
    bob = chat.user("bob")
    with pytest.raises(errors.NoSuchRoom):
        chat.hub.part(bob, "#nowhere")


def test_rejoin_after_room_vanished(chat):
    """Joining a room after it vanished creates a fresh room with no topic."""
    alice = chat.in_room("alice", "#a")
    chat.hub.set_topic(alice, "#a", "old")
    chat.hub.part(alice, "#a")
    room, event = chat.hub.join(alice, "#a")
    assert room.topic == ""
    assert event is not None


# Speaking

def test_say(chat):
    """say sends a Message to every other member of the room, not to the speaker or outsiders."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("bob", "#a")
    carol = chat.in_room("carol", "#a")
    dave = chat.in_room("dave", "#b")
    clear(alice, bob, carol, dave)
    event = chat.hub.say(alice, "#a", "hello")
    assert isinstance(event, Message)
    assert (event.source.nick, event.room, event.text, event.kind) == (
        "alice", "#a", "hello", Kind.SAY)
    assert events(bob) == [event]
    assert events(carol) == [event]
    assert events(alice) == []
    assert events(dave) == []


def test_say_alone(chat):
    """Saying something in a room where one is alone returns the event and sends nothing."""
    alice = chat.in_room("alice", "#a")
    clear(alice)
    event = chat.hub.say(alice, "#a", "echo?")
    assert event.text == "echo?"
    assert alice.client.sent == []
    assert chat.wire.calls == []


def test_say_action(chat):
    """say keeps the kind of message it was given."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("bob", "#a")
    clear(bob)
    chat.hub.say(alice, "#a", "waves", Kind.ACTION)
    assert [e.kind for e in events(bob)] == [Kind.ACTION]


def test_say_cleans(chat):
    """say removes controls and bidi overrides from the text."""
    alice = chat.in_room("alice", "#a")
    event = chat.hub.say(alice, "#a", "\x1b[31mred\x07\u202e \x02bold")
    assert event.text == "red \x02bold"


@pytest.mark.parametrize("message", ["", "   ", "\x1b\x07\r\n", "\u202e\t"])
def test_say_empty(chat, message):
    """say refuses a message with nothing printable left once cleaned."""
    alice = chat.in_room("alice", "#a")
    with pytest.raises(errors.EmptyMessage):
        chat.hub.say(alice, "#a", message)


def test_say_not_in_room(chat):
    """say refuses a room the speaker is not in, when the room refuses outside messages (the default)."""
    chat.in_room("alice", "#a")
    bob = chat.user("bob")
    with pytest.raises(errors.CannotSend):
        chat.hub.say(bob, "#a", "hi")
    with pytest.raises(errors.NoSuchRoom):
        chat.hub.say(bob, "#b", "hi")


def test_tell(chat):
    """tell sends a PrivateMessage to its target only, naming the target as registered."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("Bob", "#a")
    carol = chat.in_room("carol", "#a")
    clear(alice, bob, carol)
    event = chat.hub.tell(alice, "BOB", "psst\x00")
    assert isinstance(event, PrivateMessage)
    assert (event.source.nick, event.target, event.text, event.kind) == (
        "alice", "Bob", "psst", Kind.SAY)
    assert events(bob) == [event]
    assert events(alice) == []
    assert events(carol) == []


def test_tell_nobody(chat):
    """tell raises NoSuchNick for a nickname nobody has."""
    alice = chat.user("alice")
    with pytest.raises(errors.NoSuchNick):
        chat.hub.tell(alice, "bob", "hi")


def test_tell_self(chat):
    """Telling oneself returns the event and sends nothing."""
    alice = chat.user("alice")
    event = chat.hub.tell(alice, "alice", "note")
    assert event.target == "alice"
    assert alice.client.sent == []


def test_tell_empty(chat):
    """tell refuses an empty message."""
    alice = chat.user("alice")
    chat.user("bob")
    with pytest.raises(errors.EmptyMessage):
        chat.hub.tell(alice, "bob", " ")


def test_set_topic(chat):
    """set_topic records the topic, who set it and when, and tells the other members."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("bob", "#a")
    clear(alice, bob)
    chat.clock.advance(5)
    event = chat.hub.set_topic(alice, "#a", "  Rust \x1b\u202etalk  ")
    assert isinstance(event, TopicChanged)
    assert (event.source.nick, event.room, event.topic, event.time) == (
        "alice", "#a", "Rust talk", 1005.0)
    room = chat.hub.find_room("#a")
    assert (room.topic, room.topic_by, room.topic_time) == ("Rust talk", "alice", 1005.0)
    assert events(bob) == [event]
    assert events(alice) == []


def test_set_topic_clear(chat):
    """An empty topic clears the topic."""
    alice = chat.in_room("alice", "#a")
    chat.hub.set_topic(alice, "#a", "x")
    event = chat.hub.set_topic(alice, "#a", "")
    assert event.topic == ""
    assert chat.hub.find_room("#a").topic == ""


def test_set_topic_length(chat):
    """A topic of the maximum length is accepted and one character more is refused."""
    alice = chat.in_room("alice", "#a")
    chat.hub.set_topic(alice, "#a", "t" * TOPIC_MAX_LENGTH)
    with pytest.raises(errors.TooLong) as raised:
        chat.hub.set_topic(alice, "#a", "u" * (TOPIC_MAX_LENGTH + 1))
    assert str(raised.value) == "A topic has at most 390 characters."
    assert chat.hub.find_room("#a").topic == "t" * TOPIC_MAX_LENGTH


def test_set_topic_not_in_room(chat):
    """Only a member may set a room's topic."""
    chat.in_room("alice", "#a")
    bob = chat.user("bob")
    with pytest.raises(errors.NotInRoom):
        chat.hub.set_topic(bob, "#a", "mine")


# Quitting

def test_quit_once_per_neighbour(chat):
    """Quitting tells each person sharing a room exactly once, however many rooms they share."""
    alice = chat.in_room("alice", "#a", "#b", "#c")
    bob = chat.in_room("bob", "#a", "#b")
    carol = chat.in_room("carol", "#c", "#d")
    dave = chat.in_room("dave", "#d")
    clear(alice, bob, carol, dave)
    event = chat.hub.quit(alice, "bye")
    assert isinstance(event, Quit)
    assert (event.source.nick, event.reason) == ("alice", "bye")
    assert events(bob) == [event]
    assert events(carol) == [event]
    assert events(alice) == []
    assert events(dave) == []


def test_quit_leaves_rooms(chat):
    """Quitting leaves every room; rooms left empty cease to exist."""
    alice = chat.in_room("alice", "#a", "#b")
    chat.in_room("bob", "#b")
    chat.hub.quit(alice)
    assert [room.name for room in chat.hub.rooms()] == ["#b"]
    assert list(chat.hub.find_room("#b").members) == ["bob"]
    assert alice.rooms == {}


def test_quit_frees_nick(chat):
    """A nickname is free again as soon as its user quits."""
    alice = chat.user("alice")
    chat.hub.quit(alice)
    assert chat.hub.user_count == 0
    with pytest.raises(errors.NoSuchNick):
        chat.hub.find_user("alice")
    assert chat.user("ALICE").nick == "ALICE"


def test_quit_twice(chat):
    """Quitting a second time returns None and tells nobody."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("bob", "#a")
    chat.hub.quit(alice)
    clear(bob)
    assert chat.hub.quit(alice) is None
    assert events(bob) == []


def test_quit_stale_user(chat):
    """Quitting a user who already quit does not sign out a newcomer with the same nickname."""
    old = chat.in_room("alice", "#a")
    chat.hub.quit(old)
    new = chat.in_room("alice", "#a")
    assert chat.hub.quit(old) is None
    assert chat.hub.find_user("alice") is new
    assert list(chat.hub.find_room("#a").members) == ["alice"]


def test_quit_reason_cleaned(chat):
    """A quit reason is cleaned and cut to its maximum length."""
    alice = chat.user("alice")
    event = chat.hub.quit(alice, "\x1b" + "y" * 1000)
    assert event.reason == "y" * REASON_MAX_LENGTH


# Events and fan-out

def test_ids_increase_and_time(chat):
    """Events have increasing ids and the clock's time when they happened."""
    alice = chat.user("alice")
    bob = chat.user("bob")
    stamped = []
    _, joined = chat.hub.join(alice, "#a")
    stamped.append(joined)
    chat.clock.advance(1.5)
    stamped.append(chat.hub.join(bob, "#a")[1])
    chat.clock.advance(1.5)
    stamped.append(chat.hub.say(alice, "#a", "hi"))
    stamped.append(chat.hub.tell(bob, "alice", "yo"))
    chat.clock.advance(2)
    stamped.append(chat.hub.set_topic(alice, "#a", "t"))
    stamped.append(chat.hub.rename(bob, "bobby"))
    stamped.append(chat.hub.part(bob, "#a"))
    stamped.append(chat.hub.quit(alice))
    # An id is the time in microseconds, or one more than the last id.
    assert [e.id for e in stamped] == [
        1000_000000, 1001_500000, 1003_000000, 1003_000001,
        1005_000000, 1005_000001, 1005_000002, 1005_000003]
    assert [e.time for e in stamped] == [1000, 1001.5, 1003, 1003, 1005, 1005, 1005, 1005]


def test_events_immutable(chat):
    """Events cannot be changed once made."""
    alice = chat.in_room("alice", "#a")
    event = chat.hub.say(alice, "#a", "hi")
    with pytest.raises(AttributeError):
        event.text = "changed"


def test_render_once_per_wire_format():
    """An event is rendered once per wire format, and every client of a format gets the same bytes."""
    chat = Chat()
    line, irc = WireFormat(b"line"), WireFormat(b"irc")
    users = []
    for index, wire in enumerate([line, line, irc, line, irc]):
        user = chat.hub.register(f"u{index}", FakeClient(wire))
        chat.hub.join(user, "#a")
        users.append(user)
    speaker = chat.hub.register("speaker", FakeClient(line))
    chat.hub.join(speaker, "#a")
    for wire in (line, irc):
        wire.calls.clear()
    for user in users:
        user.client.sent.clear()
    event = chat.hub.say(speaker, "#a", "hello")
    assert line.calls == [event]
    assert irc.calls == [event]
    assert [len(user.client.sent) for user in users] == [1, 1, 1, 1, 1]
    line_bytes = [user.client.sent[0] for user in users if user.client.renderer is line]
    irc_bytes = [user.client.sent[0] for user in users if user.client.renderer is irc]
    assert all(data is line_bytes[0] for data in line_bytes)
    assert all(data is irc_bytes[0] for data in irc_bytes)
    assert line_bytes[0] == b"line%d;" % event.id
    assert irc_bytes[0] == b"irc%d;" % event.id


def test_empty_rendering_not_sent(chat):
    """A client whose renderer returns no bytes for an event is sent nothing."""
    alice = chat.in_room("alice", "#a")
    silent = FakeClient(lambda event: b"")
    bob = chat.hub.register("bob", silent)
    chat.hub.join(bob, "#a")
    chat.hub.say(alice, "#a", "hi")
    assert silent.sent == []


class Dropper(FakeClient):
    """
    A client whose front end drops it, signing it out, as soon as it is sent
    anything: what happens to a client whose send queue overflows.
    """

    hub: Hub
    user = None
    armed = False

    def send(self, data: bytes) -> None:
        super().send(data)
        if self.armed:
            self.hub.quit(self.user, "Send queue exceeded")


def dropper(chat, nick):
    client = Dropper(chat.wire)
    client.hub = chat.hub
    client.user = chat.hub.register(nick, client)
    return client.user


def arm(user):
    user.client.armed = True


@pytest.mark.parametrize("position", [0, 1, 2])
def test_member_dropped_during_say(chat, position):
    """A member signed out while a message is fanned out does not stop the others from getting it and the quit."""
    alice = chat.in_room("alice", "#a")
    members = [chat.user("bob"), chat.user("carol")]
    members.insert(position, dropper(chat, "dropped"))
    for member in members:
        chat.hub.join(member, "#a")
    clear(alice, *members)
    arm(members[position])
    message = chat.hub.say(alice, "#a", "hi")
    for member in members:
        if member.nick == "dropped":
            continue
        received = events(member)
        assert message in received
        assert [type(e) for e in received if e is not message] == [Quit]
    assert [type(e) for e in events(alice)] == [Quit]
    assert sorted(chat.hub.find_room("#a").members) == ["alice", "bob", "carol"]
    assert chat.hub.user_count == 3


def test_member_dropped_during_join(chat):
    """When the only member of a room is signed out while told of a join, the joiner is still in a room the hub knows."""
    dropped = dropper(chat, "dropped")
    chat.hub.join(dropped, "#a")
    arm(dropped)
    alice = chat.user("alice")
    room, event = chat.hub.join(alice, "#a")
    assert chat.hub.find_room("#a") is room
    assert list(room.members) == ["alice"]
    assert [type(e) for e in events(alice)] == [Quit]
    bob = chat.user("bob")
    assert chat.hub.join(bob, "#a")[0] is room
    assert events(alice) == [chat.wire.calls[-1]]


def test_member_dropped_during_topic(chat):
    """A member signed out while a topic change is fanned out does not stop the others from getting it."""
    alice = chat.in_room("alice", "#a")
    dropped = dropper(chat, "dropped")
    chat.hub.join(dropped, "#a")
    bob = chat.in_room("bob", "#a")
    clear(alice, bob)
    arm(dropped)
    event = chat.hub.set_topic(alice, "#a", "new")
    quit = chat.wire.calls[-1]
    assert isinstance(quit, Quit)
    # The quit, fanned out while the topic was, may arrive first.
    assert sorted(events(bob), key=lambda e: e.id) == [event, quit]
