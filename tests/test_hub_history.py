"""
Tests for what the hub remembers (L{chatservice.core.hub} with a store, and
L{chatservice.core.history}): which events reach a room's history, rooms
that outlive their members, ids across restarts, and who may read what.
"""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from chatservice.core import errors
from chatservice.core.events import (
    Joined,
    Kicked,
    Kind,
    Message,
    ModeChanged,
    NickChanged,
    Parted,
    Quit,
    TopicChanged,
)
from chatservice.core.history import Point, Query, RoomState
from chatservice.core.hub import Hub
from chatservice.core.rooms import Ban, ModeChange, RoomMode
from chatservice.store.memory import MemoryStore


class Client:
    renderer = staticmethod(lambda event: b"")

    def send(self, data: bytes) -> None:
        pass


class Server:
    """A hub with an in-memory store, on a fake clock."""

    def __init__(self, store: MemoryStore | None = None, **hub_arguments):
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.store = store or MemoryStore(self.clock)
        self.hub = Hub(self.clock, store=self.store, **hub_arguments)

    def user(self, nick: str, host: str = "1.2.3.4"):
        return self.hub.register(nick, Client(), host=host)

    def history(self, room: str, limit: int = 100) -> list:
        return _result(self.store.query(room, Query(limit)))

    def restart(self, **hub_arguments) -> Server:
        """The same store behind a new hub, as after a restart."""
        return Server(self.store, **hub_arguments)


def _result(deferred):
    results = []
    deferred.addBoth(results.append)
    assert len(results) == 1, "the Deferred has not fired"
    if isinstance(results[0], Exception) or hasattr(results[0], "raiseException"):
        results[0].raiseException()
    return results[0]


@pytest.fixture
def server():
    return Server()


# What is recorded

def test_room_events_are_recorded(server):
    """Messages, joins, topics, modes, kicks and parts reach the room's history."""
    alice, bob = server.user("alice"), server.user("bob")
    server.hub.join(alice, "#a")
    server.hub.join(bob, "#a")
    server.hub.say(alice, "#a", "hello")
    server.hub.say(alice, "#a", "waves", Kind.ACTION)
    server.hub.set_topic(alice, "#a", "news")
    server.hub.change_modes(alice, "#a", [ModeChange(True, RoomMode.MODERATED)])
    server.hub.kick(alice, "#a", "bob", "out")
    server.hub.part(alice, "#a", "bye")
    kinds = [type(event) for event in server.history("#a")]
    assert kinds == [Joined, Joined, Message, Message, TopicChanged, ModeChanged,
                     Kicked, Parted]


def test_quit_and_nick_are_recorded_in_each_room(server):
    """A nick change and a quit are part of every room the person was in."""
    alice, bob = server.user("alice"), server.user("bob")
    for room in ("#a", "#b"):
        server.hub.join(bob, room)
        server.hub.join(alice, room)
    server.hub.rename(alice, "alicia")
    server.hub.quit(alice, "gone")
    for room in ("#a", "#b"):
        events = server.history(room)
        assert [type(e) for e in events[-2:]] == [NickChanged, Quit]
    # One event, the same id in both rooms.
    assert server.history("#a")[-1].id == server.history("#b")[-1].id


def test_private_messages_invitations_and_away_are_not_recorded(server):
    """Nothing said to one person, and no away message, reaches any history."""
    alice, bob = server.user("alice"), server.user("bob")
    server.hub.join(alice, "#a")
    server.hub.join(bob, "#a")
    before = server.store.stored
    server.hub.tell(alice, "bob", "a secret")
    server.hub.set_away(alice, "lunch")
    server.hub.part(bob, "#a")
    server.hub.invite(alice, "bob", "#a")
    assert server.store.stored == before + 1  # the part only
    assert all("secret" not in getattr(e, "text", "") for e in server.history("#a"))


def test_room_password_is_not_recorded(server):
    """A password set with a mode change is kept in history as '*'."""
    alice = server.user("alice")
    server.hub.join(alice, "#a")
    event, _ = server.hub.change_modes(alice, "#a", [ModeChange(True, RoomMode.KEY, "hunter2")])
    assert event.changes[0].argument == "hunter2"  # the room's members see it live
    stored = server.history("#a")[-1]
    assert stored.changes == (ModeChange(True, RoomMode.KEY, "*"),)
    assert stored.id == event.id


def test_live_and_stored_ids_match(server):
    """The event a front end sends is the event history returns, id and all."""
    alice = server.user("alice")
    server.hub.join(alice, "#a")
    said = server.hub.say(alice, "#a", "hi")
    assert server.history("#a")[-1] == said


# Ids

def test_ids_continue_after_the_store(server):
    """After a restart, ids start above the last one stored, even if the clock went back."""
    alice = server.user("alice")
    server.hub.join(alice, "#a")
    last = server.hub.say(alice, "#a", "hi").id
    later = server.restart()
    later.clock = Clock()  # a clock far behind: ids must still increase
    later.hub.clock = later.clock
    bob = later.user("bob")
    assert later.hub.join(bob, "#a")[1].id == last + 1


# Rooms that outlive their members

def test_room_with_settings_outlives_members(server):
    """A room whose topic, modes, password, limit or bans were set stays when empty."""
    alice = server.user("alice")
    server.hub.join(alice, "#a")
    server.hub.set_topic(alice, "#a", "kept")
    server.hub.change_modes(alice, "#a", [
        ModeChange(True, RoomMode.KEY, "pw"), ModeChange(True, RoomMode.LIMIT, "5"),
        ModeChange(True, RoomMode.BAN, "bad!*@*"), ModeChange(True, RoomMode.SECRET)])
    server.hub.part(alice, "#a")
    room = server.hub.find_room("#a")
    assert not room.members
    assert (room.topic, room.password, room.limit) == ("kept", "pw", 5)
    assert RoomMode.SECRET in room.flags and "bad!*@*" in room.bans


def test_room_state_survives_a_restart(server):
    """After a restart, a kept room exists again, empty, with everything its operators set."""
    alice = server.user("alice")
    server.hub.join(alice, "#a")
    server.hub.set_topic(alice, "#a", "kept")
    server.hub.change_modes(alice, "#a", [ModeChange(True, RoomMode.INVITE_ONLY),
                                          ModeChange(True, RoomMode.BAN, "bad")])
    later = server.restart()
    room = later.hub.find_room("#a")
    assert room.topic == "kept" and room.topic_by == "alice"
    assert RoomMode.INVITE_ONLY in room.flags
    assert [ban.mask for ban in room.bans.values()] == ["bad!*@*"]
    assert not room.members and not room.operators


def test_invite_exceptions_and_mutes_survive_a_restart(server):
    """After a restart, a kept room still lets its invite exceptions in and keeps its mutes quiet."""
    alice = server.user("alice")
    server.hub.join(alice, "#a")
    server.hub.change_modes(alice, "#a", [
        ModeChange(True, RoomMode.INVITE_ONLY), ModeChange(True, RoomMode.NO_CTCP),
        ModeChange(True, RoomMode.INVITE_EXCEPTION, "friend"),
        ModeChange(True, RoomMode.BAN, "m:loud"), ModeChange(True, RoomMode.BAN, "b*"),
        ModeChange(True, RoomMode.BAN_EXCEPTION, "bob")])
    later = server.restart()
    room = later.hub.find_room("#a")
    assert RoomMode.NO_CTCP in room.flags
    assert [entry.mask for entry in room.exceptions.values()] == ["friend!*@*"]
    hub = later.hub
    friend, loud = later.user("friend"), later.user("loud")
    hub.join(friend, "#a")  # invite-only, but friend matches an exception
    assert room.is_member(friend)
    hub.invite(friend, "loud", "#a")
    hub.join(loud, "#a")
    assert room.is_muted(loud) and not room.may_speak(loud)
    assert [entry.mask for entry in room.ban_exceptions.values()] == ["bob!*@*"]
    assert not room.is_banned(later.user("bob")) and room.is_banned(later.user("bill"))


def test_plain_empty_room_is_forgotten(server):
    """A room nobody set anything in ceases to exist when its last member leaves."""
    alice = server.user("alice")
    server.hub.join(alice, "#a")
    server.hub.part(alice, "#a")
    with pytest.raises(errors.NoSuchRoom):
        server.hub.find_room("#a")
    assert server.store.load_rooms() == []


def test_room_reset_to_defaults_is_forgotten(server):
    """A kept room whose settings were all undone is forgotten, by the store too, once empty."""
    alice = server.user("alice")
    server.hub.join(alice, "#a")
    server.hub.set_topic(alice, "#a", "t")
    assert len(server.store.load_rooms()) == 1
    server.hub.set_topic(alice, "#a", "")
    server.hub.part(alice, "#a")
    assert server.store.load_rooms() == []


def test_first_to_enter_kept_room_runs_it(server):
    """Whoever joins a kept room that is empty becomes its operator."""
    alice, bob = server.user("alice"), server.user("bob")
    server.hub.join(alice, "#a")
    server.hub.set_topic(alice, "#a", "t")
    server.hub.part(alice, "#a")
    room, _ = server.hub.join(bob, "#a")
    assert room.is_operator(bob)


def test_kept_room_password_still_holds(server):
    """An empty kept room still asks for its password."""
    alice, bob = server.user("alice"), server.user("bob")
    server.hub.join(alice, "#a")
    server.hub.change_modes(alice, "#a", [ModeChange(True, RoomMode.KEY, "pw")])
    server.hub.part(alice, "#a")
    with pytest.raises(errors.BadRoomPassword):
        server.hub.join(bob, "#a")
    server.hub.join(bob, "#a", "pw")


def test_server_operator_reclaims_empty_invite_only_room(server):
    """A server operator may enter an empty invite-only room nobody else could."""
    server.hub.operators.add("root", "secret")
    alice, bob = server.user("alice"), server.user("bob")
    server.hub.join(alice, "#a")
    server.hub.change_modes(alice, "#a", [ModeChange(True, RoomMode.INVITE_ONLY)])
    server.hub.part(alice, "#a")
    with pytest.raises(errors.InviteOnly):
        server.hub.join(bob, "#a")
    server.hub.become_operator(bob, "root", "secret")
    room, _ = server.hub.join(bob, "#a")
    assert room.is_operator(bob)


def test_operators_are_not_kept(server):
    """Room operator status is not part of what a store keeps."""
    alice = server.user("alice")
    server.hub.join(alice, "#a")
    server.hub.set_topic(alice, "#a", "t")
    [state] = server.store.load_rooms()
    assert isinstance(state, RoomState)
    assert not hasattr(state, "operators")


def test_without_store_empty_rooms_vanish():
    """Without a store, rooms still cease to exist when empty, as before."""
    clock = Clock()
    hub = Hub(clock)
    alice = hub.register("alice", Client())
    hub.join(alice, "#a")
    hub.set_topic(alice, "#a", "t")
    hub.part(alice, "#a")
    with pytest.raises(errors.NoSuchRoom):
        hub.find_room("#a")
    assert hub.history is None


def test_kept_room_ban_list_restored_in_order(server):
    """Bans come back with who set them and when."""
    store = server.store
    store.save_room("#x", RoomState("#X", 5.0, bans=(Ban("a!*@*", "op", 7.0),
                                                    Ban("b!*@*", "op", 8.0))))
    later = server.restart()
    room = later.hub.find_room("#x")
    assert room.name == "#X"
    assert [(b.mask, b.set_by, b.time) for b in room.bans.values()] == [
        ("a!*@*", "op", 7.0), ("b!*@*", "op", 8.0)]
    bad = later.user("a")
    with pytest.raises(errors.Banned):
        later.hub.join(bad, "#x")


# Who may read

def _setup_room(server, *modes: ModeChange):
    alice = server.user("alice")
    server.hub.join(alice, "#a")
    server.hub.say(alice, "#a", "inside")
    if modes:
        server.hub.change_modes(alice, "#a", list(modes))
    return alice


@pytest.mark.parametrize("mode", [
    None,
    ModeChange(True, RoomMode.INVITE_ONLY),
    ModeChange(True, RoomMode.KEY, "pw"),
    ModeChange(True, RoomMode.BAN, "bob"),
    ModeChange(True, RoomMode.SECRET),
    ModeChange(True, RoomMode.LIMIT, "1"),
])
def test_only_members_read(server, mode):
    """History and search are refused, before any read, to everyone outside the room, open or not, and in the same words as for a room that does not exist."""
    _setup_room(server, *([mode] if mode else []))
    bob = server.user("bob")
    with pytest.raises(errors.NotInRoom) as refused:
        server.hub.history.query(bob, "#a", Query(10))
    assert str(refused.value) == "You read the history of #a only while you are in it."
    with pytest.raises(errors.NotInRoom):
        server.hub.history.search(bob, "#a", "inside")
    with pytest.raises(errors.NotInRoom) as missing:
        server.hub.history.query(bob, "#nowhere", Query(10))
    assert str(missing.value) == "You read the history of #nowhere only while you are in it."


def test_joining_opens_the_history_and_leaving_closes_it(server):
    """Someone who joins an open room reads all of its history (visibility all), until they leave."""
    _setup_room(server)
    bob = server.user("bob")
    server.hub.join(bob, "#a")
    events = _result(server.hub.history.query(bob, "#a", Query(10, messages_only=True)))
    assert [e.text for e in events] == ["inside"]
    server.hub.part(bob, "#a")
    with pytest.raises(errors.NotInRoom):
        server.hub.history.query(bob, "#a", Query(10))


def test_members_read_their_restricted_room(server):
    """Members of an invite-only, keyed, secret room read its history."""
    alice = _setup_room(server, ModeChange(True, RoomMode.INVITE_ONLY),
                        ModeChange(True, RoomMode.KEY, "pw"), ModeChange(True, RoomMode.SECRET))
    assert len(_result(server.hub.history.query(alice, "#a", Query(10, messages_only=True)))) == 1


def test_invalid_room_name_refused(server):
    """A name that cannot be a room (nor a nick) is refused."""
    bob = server.user("bob")
    with pytest.raises(errors.InvalidRoomName):
        server.hub.history.query(bob, "#no,channel", Query(10))


def test_since_join_shows_only_after_own_join():
    """Under since-join visibility a member reads from their own join on."""
    server = Server(since_join=True)
    alice = _setup_room(server)
    bob = server.user("bob")
    with pytest.raises(errors.NotInRoom):
        server.hub.history.query(bob, "#a", Query(10))
    server.hub.join(bob, "#a")
    server.hub.say(alice, "#a", "after")
    events = _result(server.hub.history.query(bob, "#a", Query(10, messages_only=True)))
    assert [e.text for e in events] == ["after"]
    everything = _result(server.hub.history.query(alice, "#a", Query(10, messages_only=True)))
    assert [e.text for e in everything] == ["inside", "after"]


def test_since_join_forgets_on_leave():
    """Under since-join visibility, leaving and rejoining starts from the new join."""
    server = Server(since_join=True)
    alice = _setup_room(server)
    bob = server.user("bob")
    server.hub.join(bob, "#a")
    server.hub.say(alice, "#a", "first")
    server.hub.part(bob, "#a")
    server.hub.say(alice, "#a", "while away")
    server.hub.join(bob, "#a")
    events = _result(server.hub.history.query(bob, "#a", Query(10, messages_only=True)))
    assert events == []


def test_requests_are_rate_limited(server):
    """After a burst of requests, a reader waits; the refusal says how long."""
    _setup_room(server)
    bob = server.user("bob")
    server.hub.join(bob, "#a")
    for _ in range(20):
        server.hub.history.query(bob, "#a", Query(1))
    with pytest.raises(errors.RateLimited) as refused:
        server.hub.history.query(bob, "#a", Query(1))
    assert "try again in 1 s" in str(refused.value)
    server.clock.advance(0.5)
    server.hub.history.query(bob, "#a", Query(1))


def test_limits_are_clamped(server):
    """A limit above the maximum reads the maximum; below 1 reads one."""
    alice = _setup_room(server)
    for number in range(5):
        server.hub.say(alice, "#a", f"m{number}")
    history = server.hub.history
    history.max_limit = 3
    assert len(_result(history.query(alice, "#a", Query(10**9, messages_only=True)))) == 3
    assert len(_result(history.query(alice, "#a", Query(-4, messages_only=True)))) == 1


def test_around_takes_both_sides(server):
    """AROUND an id takes half the limit before it and the rest from it on."""
    alice = _setup_room(server)
    said = [server.hub.say(alice, "#a", f"m{number}") for number in range(10)]
    events = _result(server.hub.history.around(alice, "#a", Point(id=said[5].id), 4))
    assert [e.text for e in events] == ["m3", "m4", "m5", "m6"]


def test_replay_is_messages_before_the_join(server):
    """The replay on joining is the last messages said before the join, nothing after."""
    alice = _setup_room(server)
    for number in range(20):
        server.hub.say(alice, "#a", f"m{number}")
    bob = server.user("bob")
    _, joined = server.hub.join(bob, "#a")
    server.hub.say(alice, "#a", "live")
    events = _result(server.hub.history.replay(bob, "#a", joined.id))
    assert [e.text for e in events] == [f"m{n}" for n in range(5, 20)]


def test_targets_lists_own_rooms_only(server):
    """TARGETS names only the rooms the reader is in, with the latest message time."""
    alice, bob = server.user("alice"), server.user("bob")
    server.hub.join(alice, "#a")
    server.hub.join(alice, "#b")
    server.hub.join(bob, "#b")
    server.clock.advance(1)
    server.hub.say(alice, "#a", "a")
    server.clock.advance(1)
    server.hub.say(alice, "#b", "b")
    now = server.clock.seconds()
    found = _result(server.hub.history.targets(bob, 0, now + 1, 10))
    assert found == [("#b", now)]
    found = _result(server.hub.history.targets(alice, now + 1, 0, 10))
    assert found == [("#a", now - 1), ("#b", now)]
