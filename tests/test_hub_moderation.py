"""
Tests for the room moderation and server operators of
L{chatservice.core.hub}: modes, joining rules, speaking rules, kicks,
invitations, away messages, server operators and WHOWAS.
"""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from chatservice.core import errors
from chatservice.core.events import (
    AwayChanged,
    Invited,
    Kicked,
    ModeChanged,
    Quit,
    Source,
)
from chatservice.core.hub import AWAY_MAX_LENGTH, DEFAULT_ROOM_MODES, WHOWAS_KEPT, Hub
from chatservice.core.operators import Operators, hash_password
from chatservice.core.rooms import FLAGS, Ban, ModeChange, RoomMode

OPER_HASH = hash_password("s3cret", b"\0" * 16)


class Wire:
    """A renderer shared by the fake clients: each event becomes its id."""

    def __init__(self):
        self.events: dict[bytes, object] = {}

    def __call__(self, event) -> bytes:
        data = b"%d;" % event.id
        self.events[data] = event
        return data


class Inbox:
    """A connection as the hub sees it, keeping what it is sent."""

    def __init__(self, wire: Wire):
        self.renderer = wire
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)


class Chat:
    """A hub on a fake clock at t=1000, and helpers to sign people in."""

    def __init__(self, **hub_arguments):
        self.clock = Clock()
        self.clock.advance(1000)
        self.hub = Hub(self.clock, **hub_arguments)
        self.wire = Wire()

    def user(self, nick, host="1.2.3.4", username=None):
        return self.hub.register(nick, Inbox(self.wire), username=username, host=host)

    def in_room(self, nick, *rooms, **details):
        user = self.user(nick, **details)
        for room in rooms:
            self.hub.join(user, room)
        return user

    def got(self, user) -> list:
        """The events C{user} was sent since last asked."""
        sent, user.client.sent = user.client.sent, []
        return [self.wire.events[data] for data in sent]

    def clear(self, *users) -> None:
        for user in users:
            user.client.sent.clear()

    def modes(self, user, room, *changes):
        """Apply changes given as (adding, mode[, argument]) tuples."""
        return self.hub.change_modes(user, room, [ModeChange(*c) for c in changes])


@pytest.fixture
def chat():
    return Chat()


@pytest.fixture
def room_ab(chat):
    """alice (who created #a) and bob in #a, with nothing unread."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("bob", "#a")
    chat.clear(alice, bob)
    return alice, bob


# New rooms

def test_creator_is_operator(chat, room_ab):
    """The user who creates a room is its operator; later members are not."""
    alice, bob = room_ab
    room = chat.hub.find_room("#a")
    assert room.operators == {alice}
    assert not room.is_operator(bob)


def test_default_room_modes(chat):
    """A new room starts topic-locked and closed to outside messages by default."""
    assert DEFAULT_ROOM_MODES == {RoomMode.TOPIC_LOCKED, RoomMode.NO_OUTSIDE}
    room, _ = chat.hub.join(chat.user("alice"), "#a")
    assert room.flags == {RoomMode.TOPIC_LOCKED, RoomMode.NO_OUTSIDE}


def test_room_modes_option():
    """A new room starts with the hub's room_modes, which keeps only flags."""
    chat = Chat(room_modes=frozenset({RoomMode.SECRET, RoomMode.MODERATED, RoomMode.KEY}))
    assert chat.hub.room_modes == {RoomMode.SECRET, RoomMode.MODERATED}
    room, _ = chat.hub.join(chat.user("alice"), "#a")
    assert room.flags == {RoomMode.SECRET, RoomMode.MODERATED}


def test_room_flags_not_shared(chat):
    """Changing one room's flags changes neither another room's nor the hub's defaults."""
    alice = chat.in_room("alice", "#a", "#b")
    chat.modes(alice, "#a", (True, RoomMode.SECRET))
    assert chat.hub.find_room("#b").flags == DEFAULT_ROOM_MODES
    assert chat.hub.room_modes == DEFAULT_ROOM_MODES


def test_rejoining_vanished_room_resets_modes(chat):
    """A room recreated after it emptied has the default modes, no key and the new creator as operator."""
    alice = chat.in_room("alice", "#a")
    chat.modes(alice, "#a", (True, RoomMode.MODERATED), (True, RoomMode.KEY, "k"))
    chat.hub.part(alice, "#a")
    bob = chat.user("bob")
    room, _ = chat.hub.join(bob, "#a")
    assert room.flags == DEFAULT_ROOM_MODES
    assert room.password is None
    assert room.operators == {bob}


# change_modes: who may

def test_change_modes_needs_operator(chat, room_ab):
    """A member who is not an operator may not change modes, and nothing changes."""
    alice, bob = room_ab
    with pytest.raises(errors.NotOperator) as raised:
        chat.modes(bob, "#a", (True, RoomMode.MODERATED))
    assert str(raised.value) == "You are not an operator of #a."
    assert RoomMode.MODERATED not in chat.hub.find_room("#a").flags
    assert chat.got(alice) == []


def test_change_modes_needs_membership(chat, room_ab):
    """Somebody outside a room may not change its modes."""
    carol = chat.user("carol")
    with pytest.raises(errors.NotInRoom) as raised:
        chat.modes(carol, "#a", (True, RoomMode.MODERATED))
    assert str(raised.value) == "You are not in #a."


def test_change_modes_no_such_room(chat):
    """Changing the modes of a room that does not exist raises NoSuchRoom."""
    with pytest.raises(errors.NoSuchRoom):
        chat.modes(chat.user("alice"), "#nowhere", (True, RoomMode.MODERATED))


def test_server_operator_acts_as_room_operator(chat, room_ab):
    """A server operator may act as an operator of any room without being listed as one."""
    alice, bob = room_ab
    with pytest.raises(errors.NotOperator):
        chat.modes(bob, "#a", (True, RoomMode.MODERATED))
    bob.is_operator = True
    event, problems = chat.modes(bob, "#a", (True, RoomMode.MODERATED))
    assert event is not None and problems == []
    assert not chat.hub.find_room("#a").is_operator(bob)


# change_modes: the event

@pytest.mark.parametrize("mode", sorted(FLAGS, key=lambda mode: mode.value))
def test_flag_set_and_cleared(chat, room_ab, mode):
    """An operator sets and clears each flag; each change is one event to the others."""
    alice, bob = room_ab
    room = chat.hub.find_room("#a")
    room.flags.clear()
    event, problems = chat.modes(alice, "#a", (True, mode))
    assert problems == []
    assert isinstance(event, ModeChanged)
    assert (event.source, event.room, event.changes, event.time) == (
        Source("alice", "alice", "1.2.3.4"), "#a", (ModeChange(True, mode),), 1000.0)
    assert room.flags == {mode}
    assert chat.got(bob) == [event]
    assert chat.got(alice) == []
    event, problems = chat.modes(alice, "#a", (False, mode))
    assert (event.changes, problems) == ((ModeChange(False, mode),), [])
    assert room.flags == set()
    assert chat.got(bob) == [event]


def test_several_changes_one_event(chat, room_ab):
    """Several changes at once make one event listing them in order, sent once to each other member."""
    alice, bob = room_ab
    carol = chat.in_room("carol", "#a")
    dave = chat.in_room("dave", "#b")
    chat.clear(alice, bob, dave)
    event, problems = chat.modes(alice, "#a", (True, RoomMode.MODERATED),
                                 (True, RoomMode.VOICE, "BOB"), (True, RoomMode.LIMIT, "10"),
                                 (False, RoomMode.NO_OUTSIDE))
    assert problems == []
    assert event.changes == (
        ModeChange(True, RoomMode.MODERATED),
        ModeChange(True, RoomMode.VOICE, "bob"),
        ModeChange(True, RoomMode.LIMIT, "10"),
        ModeChange(False, RoomMode.NO_OUTSIDE),
    )
    assert chat.got(bob) == [event]
    assert chat.got(carol) == [event]
    assert chat.got(alice) == []
    assert chat.got(dave) == []


def test_no_op_changes_dropped(chat, room_ab):
    """Changes that change nothing are dropped; if none is left there is no event and nobody is told."""
    alice, bob = room_ab
    event, problems = chat.modes(
        alice, "#a", (True, RoomMode.TOPIC_LOCKED), (False, RoomMode.SECRET),
        (True, RoomMode.OPERATOR, "alice"), (False, RoomMode.VOICE, "bob"),
        (False, RoomMode.KEY, "x"), (False, RoomMode.LIMIT), (False, RoomMode.BAN, "nobody"))
    assert (event, problems) == (None, [])
    assert chat.got(bob) == []


def test_no_op_changes_dropped_among_others(chat, room_ab):
    """Changes that change nothing are left out of an event that has real ones."""
    alice, bob = room_ab
    event, _ = chat.modes(alice, "#a", (True, RoomMode.TOPIC_LOCKED),
                          (True, RoomMode.SECRET), (True, RoomMode.SECRET))
    assert event.changes == (ModeChange(True, RoomMode.SECRET),)


def test_change_problems_reported_others_applied(chat, room_ab):
    """A change that cannot apply is returned as a problem and the other changes still apply."""
    alice, bob = room_ab
    chat.user("carol")
    event, problems = chat.modes(alice, "#a", (True, RoomMode.OPERATOR, "carol"),
                                 (True, RoomMode.SECRET), (True, RoomMode.VOICE, "nobody"),
                                 (True, RoomMode.VOICE, "bob"))
    assert [(type(p), str(p)) for p in problems] == [
        (errors.TargetNotInRoom, "carol is not in #a."),
        (errors.NoSuchNick, "Nobody is called nobody."),
    ]
    assert event.changes == (ModeChange(True, RoomMode.SECRET),
                             ModeChange(True, RoomMode.VOICE, "bob"))
    assert chat.got(bob) == [event]


def test_only_problems(chat, room_ab):
    """When every change is a problem there is no event, and the problems are returned."""
    alice, bob = room_ab
    event, problems = chat.modes(alice, "#a", (True, RoomMode.OPERATOR, "nobody"))
    assert event is None
    assert [type(p) for p in problems] == [errors.NoSuchNick]
    assert chat.got(bob) == []


# Member modes

def test_operator_given_and_taken(chat, room_ab):
    """An operator makes a member an operator and takes it back; the event names the member as they spell it."""
    alice, bob = room_ab
    room = chat.hub.find_room("#a")
    event, _ = chat.modes(alice, "#a", (True, RoomMode.OPERATOR, "BOB"))
    assert event.changes == (ModeChange(True, RoomMode.OPERATOR, "bob"),)
    assert room.operators == {alice, bob}
    event, _ = chat.modes(bob, "#a", (False, RoomMode.OPERATOR, "alice"))
    assert event.changes == (ModeChange(False, RoomMode.OPERATOR, "alice"),)
    assert room.operators == {bob}
    assert chat.got(alice) == [event]


def test_voice_given_and_taken(chat, room_ab):
    """An operator gives a member a voice and takes it back."""
    alice, bob = room_ab
    room = chat.hub.find_room("#a")
    event, _ = chat.modes(alice, "#a", (True, RoomMode.VOICE, "bob"))
    assert event.changes == (ModeChange(True, RoomMode.VOICE, "bob"),)
    assert room.voiced == {bob}
    event, _ = chat.modes(alice, "#a", (False, RoomMode.VOICE, "bob"))
    assert event.changes == (ModeChange(False, RoomMode.VOICE, "bob"),)
    assert room.voiced == set()


def test_member_mode_without_nick(chat, room_ab):
    """Operator or voice without a nick is a problem."""
    alice, _ = room_ab
    event, problems = chat.modes(alice, "#a", (True, RoomMode.VOICE))
    assert event is None
    assert [(type(p), str(p)) for p in problems] == [
        (errors.NoSuchNick, "Nobody is called .")]


def test_operator_may_deop_self(chat, room_ab):
    """An operator may give up operator status, after which they can change no modes."""
    alice, bob = room_ab
    event, _ = chat.modes(alice, "#a", (False, RoomMode.OPERATOR, "alice"))
    assert event.changes == (ModeChange(False, RoomMode.OPERATOR, "alice"),)
    assert chat.got(bob) == [event]
    with pytest.raises(errors.NotOperator):
        chat.modes(alice, "#a", (True, RoomMode.SECRET))


def test_leaving_loses_member_modes(chat, room_ab):
    """Somebody who leaves a room and comes back is neither operator nor voiced any more."""
    alice, bob = room_ab
    chat.in_room("carol", "#a")
    chat.modes(alice, "#a", (True, RoomMode.OPERATOR, "bob"), (True, RoomMode.VOICE, "bob"))
    chat.hub.part(bob, "#a")
    chat.hub.join(bob, "#a")
    room = chat.hub.find_room("#a")
    assert room.operators == {alice}
    assert room.voiced == set()


def test_member_modes_survive_rename(chat, room_ab):
    """A member renamed keeps operator status, and the next change names the new nick."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (True, RoomMode.OPERATOR, "bob"))
    chat.hub.rename(bob, "robert")
    event, _ = chat.modes(alice, "#a", (False, RoomMode.OPERATOR, "ROBERT"))
    assert event.changes == (ModeChange(False, RoomMode.OPERATOR, "robert"),)


# Key and limit

def test_key_set_and_removed(chat, room_ab):
    """An operator sets a key, then removes it; the removal shows * instead of the key."""
    alice, bob = room_ab
    room = chat.hub.find_room("#a")
    event, _ = chat.modes(alice, "#a", (True, RoomMode.KEY, "hunter2"))
    assert event.changes == (ModeChange(True, RoomMode.KEY, "hunter2"),)
    assert room.password == "hunter2"
    event, _ = chat.modes(alice, "#a", (False, RoomMode.KEY, "whatever"))
    assert event.changes == (ModeChange(False, RoomMode.KEY, "*"),)
    assert room.password is None


def test_key_replaced(chat, room_ab):
    """Setting another key replaces the old one."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.KEY, "one"))
    event, _ = chat.modes(alice, "#a", (True, RoomMode.KEY, "two"))
    assert event.changes == (ModeChange(True, RoomMode.KEY, "two"),)
    assert chat.hub.find_room("#a").password == "two"


@pytest.mark.parametrize("argument", [None, ""])
def test_key_without_value_dropped(chat, room_ab, argument):
    """Setting a key without a value changes nothing."""
    alice, _ = room_ab
    assert chat.modes(alice, "#a", (True, RoomMode.KEY, argument)) == (None, [])
    assert chat.hub.find_room("#a").password is None


def test_same_key_again_dropped(chat, room_ab):
    """Setting the key the room already has changes nothing and tells nobody."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (True, RoomMode.KEY, "k"))
    chat.clear(bob)
    assert chat.modes(alice, "#a", (True, RoomMode.KEY, "k")) == (None, [])
    assert chat.got(bob) == []


def test_limit_set_and_removed(chat, room_ab):
    """An operator sets a member limit, written without leading zeros, then removes it."""
    alice, _ = room_ab
    room = chat.hub.find_room("#a")
    event, _ = chat.modes(alice, "#a", (True, RoomMode.LIMIT, "007"))
    assert event.changes == (ModeChange(True, RoomMode.LIMIT, "7"),)
    assert room.limit == 7
    event, _ = chat.modes(alice, "#a", (False, RoomMode.LIMIT))
    assert event.changes == (ModeChange(False, RoomMode.LIMIT),)
    assert room.limit is None


@pytest.mark.parametrize("argument", [None, "", "0", "000", "-3", "+3", "ten", "2.5", " 4",
                                      "\u00b2", "\u0661\u0662", "9" * 5000])
def test_bad_limit_dropped(chat, room_ab, argument):
    """A limit that is not a positive whole number in ASCII digits changes nothing and raises nothing."""
    alice, _ = room_ab
    assert chat.modes(alice, "#a", (True, RoomMode.LIMIT, argument)) == (None, [])
    assert chat.hub.find_room("#a").limit is None


def test_same_limit_again_dropped(chat, room_ab):
    """Setting the limit the room already has changes nothing."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.LIMIT, "5"))
    assert chat.modes(alice, "#a", (True, RoomMode.LIMIT, "05")) == (None, [])


# Bans

def test_ban_normalised_and_recorded(chat, room_ab):
    """A partial ban mask is completed; the ban records who set it and when."""
    alice, bob = room_ab
    chat.clock.advance(5)
    event, _ = chat.modes(alice, "#a", (True, RoomMode.BAN, "*@evil.example"))
    assert event.changes == (ModeChange(True, RoomMode.BAN, "*!*@evil.example"),)
    assert list(chat.hub.find_room("#a").bans.values()) == [
        Ban("*!*@evil.example", "alice", 1005.0)]
    assert chat.got(bob) == [event]


def test_ban_removed(chat, room_ab):
    """A ban is removed by its mask, partial or whole."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.BAN, "carol"))
    event, _ = chat.modes(alice, "#a", (False, RoomMode.BAN, "carol!*@*"))
    assert event.changes == (ModeChange(False, RoomMode.BAN, "carol!*@*"),)
    assert chat.hub.find_room("#a").bans == {}


def test_ban_twice_dropped(chat, room_ab):
    """Banning a mask already banned, in any case, changes nothing."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.BAN, "carol"))
    assert chat.modes(alice, "#a", (True, RoomMode.BAN, "CAROL!*@*")) == (None, [])


@pytest.mark.parametrize("argument", [None, ""])
def test_ban_without_mask_dropped(chat, room_ab, argument):
    """A ban without a mask changes nothing."""
    alice, _ = room_ab
    assert chat.modes(alice, "#a", (True, RoomMode.BAN, argument)) == (None, [])
    assert chat.hub.find_room("#a").bans == {}


def test_ban_keeps_member_in_room(chat, room_ab):
    """Banning a member does not remove them from the room."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (True, RoomMode.BAN, "bob"))
    assert chat.hub.find_room("#a").is_member(bob)


# Joining

def test_join_invite_only_refused(chat, room_ab):
    """Joining an invite-only room without an invitation raises InviteOnly."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.INVITE_ONLY))
    carol = chat.user("carol")
    with pytest.raises(errors.InviteOnly) as raised:
        chat.hub.join(carol, "#a")
    assert str(raised.value) == "#a is invite-only."
    assert carol.rooms == {}
    assert chat.got(alice) == []


def test_join_with_key(chat, room_ab):
    """A room with a key admits whoever gives it, and refuses a wrong or missing key."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.KEY, "sesame"))
    carol = chat.user("carol")
    for wrong in (None, "", "SESAME", "sesame "):
        with pytest.raises(errors.BadRoomPassword) as raised:
            chat.hub.join(carol, "#a", wrong)
        assert str(raised.value) == "#a needs the right password."
    room, event = chat.hub.join(carol, "#a", "sesame")
    assert room.is_member(carol)
    assert chat.got(alice) == [event]


def test_join_key_ignored_without_key(chat, room_ab):
    """A password given for a room without a key is ignored."""
    _, event = chat.hub.join(chat.user("carol"), "#a", "anything")
    assert event is not None


def test_join_limit(chat, room_ab):
    """A room at its member limit refuses another member until one leaves."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (True, RoomMode.LIMIT, "2"))
    carol = chat.user("carol")
    with pytest.raises(errors.RoomFull) as raised:
        chat.hub.join(carol, "#a")
    assert str(raised.value) == "#a is full."
    chat.hub.part(bob, "#a")
    chat.hub.join(carol, "#a")
    assert list(chat.hub.find_room("#a").members) == ["alice", "carol"]


def test_limit_below_members_keeps_them(chat, room_ab):
    """Lowering the limit below the number of members removes nobody."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.LIMIT, "1"))
    assert len(chat.hub.find_room("#a").members) == 2


def test_join_banned(chat, room_ab):
    """A user matching a ban may not join, whatever the case of their nick."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.BAN, "carol[x]"))
    carol = chat.user("CAROL{X}")
    with pytest.raises(errors.Banned) as raised:
        chat.hub.join(carol, "#a")
    assert str(raised.value) == "You are banned from #a."


def test_join_banned_by_host(chat, room_ab):
    """A ban on a host keeps out everybody from that host and nobody else."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.BAN, "*!*@10.0.0.*"))
    with pytest.raises(errors.Banned):
        chat.hub.join(chat.user("carol", host="10.0.0.9"), "#a")
    chat.hub.join(chat.user("dave", host="10.0.1.9"), "#a")


def test_join_banned_by_user_name(chat, room_ab):
    """A ban on a user name matches the user name, not the nick."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.BAN, "*!evil@*"))
    with pytest.raises(errors.Banned):
        chat.hub.join(chat.user("carol", username="evil"), "#a")
    chat.hub.join(chat.user("dave", username="good"), "#a")


def test_unbanned_may_join(chat, room_ab):
    """After a ban is removed the user it kept out may join."""
    alice, _ = room_ab
    carol = chat.user("carol")
    chat.modes(alice, "#a", (True, RoomMode.BAN, "carol"))
    chat.modes(alice, "#a", (False, RoomMode.BAN, "carol"))
    room, event = chat.hub.join(carol, "#a")
    assert event is not None


def test_join_already_member_skips_checks(chat, room_ab):
    """Joining a room one is already in returns no event even if one would now be refused."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (True, RoomMode.INVITE_ONLY), (True, RoomMode.KEY, "k"),
               (True, RoomMode.BAN, "bob"))
    room, event = chat.hub.join(bob, "#a")
    assert event is None


def test_join_refused_in_order(chat, room_ab):
    """A room refusing on several grounds reports invite-only first, then the key, then the limit."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (True, RoomMode.INVITE_ONLY), (True, RoomMode.KEY, "k"),
               (True, RoomMode.LIMIT, "2"), (True, RoomMode.BAN, "*"))
    carol = chat.user("carol")
    with pytest.raises(errors.InviteOnly):
        chat.hub.join(carol, "#a", "k")
    chat.modes(alice, "#a", (False, RoomMode.INVITE_ONLY))
    with pytest.raises(errors.BadRoomPassword):
        chat.hub.join(carol, "#a")
    with pytest.raises(errors.RoomFull):
        chat.hub.join(carol, "#a", "k")
    chat.modes(alice, "#a", (False, RoomMode.LIMIT))
    with pytest.raises(errors.Banned):
        chat.hub.join(carol, "#a", "k")


# Invitations

def test_invite(chat, room_ab):
    """An invitation returns an Invited event and tells only the invited person."""
    alice, bob = room_ab
    carol = chat.user("Carol")
    event = chat.hub.invite(alice, "CAROL", "#A")
    assert isinstance(event, Invited)
    assert (event.source.nick, event.room, event.target, event.time) == (
        "alice", "#a", "Carol", 1000.0)
    assert chat.got(carol) == [event]
    assert chat.got(alice) == []
    assert chat.got(bob) == []
    assert chat.hub.find_room("#a").invited == {carol}


def test_invite_by_member_in_open_room(chat, room_ab):
    """Any member may invite to a room that is not invite-only."""
    _, bob = room_ab
    carol = chat.user("carol")
    chat.hub.invite(bob, "carol", "#a")
    assert carol in chat.hub.find_room("#a").invited


def test_invite_only_needs_operator(chat, room_ab):
    """Only an operator may invite to an invite-only room."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (True, RoomMode.INVITE_ONLY))
    carol = chat.user("carol")
    with pytest.raises(errors.NotOperator) as raised:
        chat.hub.invite(bob, "carol", "#a")
    assert str(raised.value) == "You are not an operator of #a."
    assert chat.got(carol) == []
    assert chat.hub.find_room("#a").invited == set()


def test_invite_member(chat, room_ab):
    """Inviting somebody already in the room raises AlreadyInRoom."""
    alice, bob = room_ab
    with pytest.raises(errors.AlreadyInRoom) as raised:
        chat.hub.invite(alice, "BOB", "#a")
    assert str(raised.value) == "bob is already in #a."
    assert chat.got(bob) == []


def test_invite_needs_membership(chat, room_ab):
    """Somebody outside a room may not invite to it."""
    carol, dave = chat.user("carol"), chat.user("dave")
    with pytest.raises(errors.NotInRoom):
        chat.hub.invite(carol, "dave", "#a")
    assert chat.got(dave) == []


def test_invite_nobody(chat, room_ab):
    """Inviting a nick nobody has raises NoSuchNick."""
    alice, _ = room_ab
    with pytest.raises(errors.NoSuchNick):
        chat.hub.invite(alice, "ghost", "#a")


def test_invitation_admits_to_invite_only(chat, room_ab):
    """An invited user may join an invite-only room, and the members are told."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (True, RoomMode.INVITE_ONLY))
    carol = chat.user("carol")
    chat.hub.invite(alice, "carol", "#a")
    chat.clear(bob)
    room, event = chat.hub.join(carol, "#a")
    assert room.is_member(carol)
    assert chat.got(bob) == [event]


def test_invitation_consumed(chat, room_ab):
    """An invitation is used up by joining: after leaving, the user needs another."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.INVITE_ONLY))
    carol = chat.user("carol")
    chat.hub.invite(alice, "carol", "#a")
    room, _ = chat.hub.join(carol, "#a")
    assert room.invited == set()
    chat.hub.part(carol, "#a")
    with pytest.raises(errors.InviteOnly):
        chat.hub.join(carol, "#a")


def test_invitation_bypasses_ban(chat, room_ab):
    """An invited user may join a room that bans them."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.BAN, "carol"))
    carol = chat.user("carol")
    chat.hub.invite(alice, "carol", "#a")
    room, event = chat.hub.join(carol, "#a")
    assert event is not None


def test_invitation_excuses_a_full_room_not_a_key(chat, room_ab):
    """An invitation lets one into a full room (as the modern IRC document says) but does not excuse a missing key."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.KEY, "k"), (True, RoomMode.LIMIT, "2"))
    carol, dave = chat.user("carol"), chat.user("dave")
    chat.hub.invite(alice, "carol", "#a")
    with pytest.raises(errors.BadRoomPassword):
        chat.hub.join(carol, "#a")
    with pytest.raises(errors.RoomFull):
        chat.hub.join(dave, "#a", "k")
    chat.hub.join(carol, "#a", "k")


def test_invitation_is_personal(chat, room_ab):
    """An invitation admits the invited user only, not somebody who later takes their nick."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.INVITE_ONLY))
    carol = chat.user("carol")
    chat.hub.invite(alice, "carol", "#a")
    chat.hub.quit(carol)
    impostor = chat.user("carol")
    with pytest.raises(errors.InviteOnly):
        chat.hub.join(impostor, "#a")


# Speaking

def test_no_outside_refuses_outsiders(chat, room_ab):
    """In a room closed to outside messages a non-member may not speak."""
    alice, bob = room_ab
    carol = chat.user("carol")
    with pytest.raises(errors.CannotSend) as raised:
        chat.hub.say(carol, "#a", "hi")
    assert str(raised.value) == "You must be in #a to speak there."
    assert chat.got(alice) == chat.got(bob) == []


def test_outsider_may_speak_when_allowed(chat, room_ab):
    """In a room open to outside messages a non-member's message reaches every member."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (False, RoomMode.NO_OUTSIDE))
    carol = chat.user("carol")
    chat.clear(bob)
    event = chat.hub.say(carol, "#a", "hi")
    assert (event.source.nick, event.room, event.text) == ("carol", "#a", "hi")
    assert chat.got(alice) == [event]
    assert chat.got(bob) == [event]
    assert chat.got(carol) == []


def test_moderated_refuses_plain_members(chat, room_ab):
    """In a moderated room a member without operator status or voice may not speak."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (True, RoomMode.MODERATED))
    with pytest.raises(errors.CannotSend) as raised:
        chat.hub.say(bob, "#a", "hi")
    assert str(raised.value) == "You cannot speak in #a now."
    assert chat.got(alice) == []


def test_moderated_admits_operators_and_voiced(chat, room_ab):
    """In a moderated room operators and voiced members speak."""
    alice, bob = room_ab
    carol = chat.in_room("carol", "#a")
    chat.modes(alice, "#a", (True, RoomMode.MODERATED), (True, RoomMode.VOICE, "bob"))
    chat.clear(bob, carol)
    said = [chat.hub.say(alice, "#a", "from the chair"), chat.hub.say(bob, "#a", "voiced")]
    assert chat.got(carol) == said


def test_moderated_refuses_outsiders(chat, room_ab):
    """A moderated room open to outside messages still refuses outsiders."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (True, RoomMode.MODERATED), (False, RoomMode.NO_OUTSIDE))
    with pytest.raises(errors.CannotSend) as raised:
        chat.hub.say(chat.user("carol"), "#a", "hi")
    assert str(raised.value) == "You cannot speak in #a now."


def test_banned_member_silenced(chat, room_ab):
    """A member matching a ban may not speak, until voiced."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (True, RoomMode.BAN, "bob"))
    with pytest.raises(errors.CannotSend) as raised:
        chat.hub.say(bob, "#a", "hi")
    assert str(raised.value) == "You cannot speak in #a now."
    chat.modes(alice, "#a", (True, RoomMode.VOICE, "bob"))
    chat.clear(alice)
    event = chat.hub.say(bob, "#a", "thanks")
    assert chat.got(alice) == [event]


def test_banned_operator_speaks(chat, room_ab):
    """An operator matching a ban still speaks."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (True, RoomMode.BAN, "*"))
    chat.clear(bob)
    event = chat.hub.say(alice, "#a", "still here")
    assert chat.got(bob) == [event]


def test_banned_outsider_silenced(chat, room_ab):
    """A banned non-member may not speak even where outsiders may."""
    alice, _ = room_ab
    chat.modes(alice, "#a", (False, RoomMode.NO_OUTSIDE), (True, RoomMode.BAN, "carol"))
    with pytest.raises(errors.CannotSend):
        chat.hub.say(chat.user("carol"), "#a", "hi")


def test_say_no_such_room(chat):
    """Speaking in a room that does not exist raises NoSuchRoom."""
    with pytest.raises(errors.NoSuchRoom):
        chat.hub.say(chat.user("carol"), "#nowhere", "hi")


# Topics

def test_topic_locked_needs_operator(chat, room_ab):
    """In a topic-locked room a member who is not an operator may not set the topic."""
    alice, bob = room_ab
    with pytest.raises(errors.NotOperator) as raised:
        chat.hub.set_topic(bob, "#a", "mine")
    assert str(raised.value) == "You are not an operator of #a."
    assert chat.hub.find_room("#a").topic == ""
    assert chat.got(alice) == []


def test_topic_locked_operator(chat, room_ab):
    """In a topic-locked room an operator sets the topic."""
    alice, bob = room_ab
    event = chat.hub.set_topic(alice, "#a", "rules")
    assert chat.hub.find_room("#a").topic == "rules"
    assert chat.got(bob) == [event]


def test_topic_unlocked_any_member(chat, room_ab):
    """In a room whose topic is not locked any member sets the topic."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (False, RoomMode.TOPIC_LOCKED))
    chat.clear(bob)
    event = chat.hub.set_topic(bob, "#a", "free for all")
    assert (chat.hub.find_room("#a").topic_by, event.topic) == ("bob", "free for all")
    assert chat.got(alice) == [event]


# Kicking

def test_kick(chat, room_ab):
    """A kick removes the target and tells every member, the target included, but not the kicker."""
    alice, bob = room_ab
    carol = chat.in_room("carol", "#a")
    dave = chat.in_room("dave", "#b")
    chat.clear(alice, bob, dave)
    event = chat.hub.kick(alice, "#A", "BOB", "  be nice\x1b[0m ")
    assert isinstance(event, Kicked)
    assert (event.source.nick, event.room, event.target, event.reason, event.time) == (
        "alice", "#a", "bob", "  be nice ", 1000.0)
    assert chat.got(bob) == [event]
    assert chat.got(carol) == [event]
    assert chat.got(alice) == []
    assert chat.got(dave) == []
    assert list(chat.hub.find_room("#a").members) == ["alice", "carol"]
    assert bob.rooms == {}


def test_kick_reason_truncated(chat, room_ab):
    """A kick reason is cut to 300 characters."""
    alice, _ = room_ab
    assert chat.hub.kick(alice, "#a", "bob", "x" * 1000).reason == "x" * 300


def test_kick_needs_operator(chat, room_ab):
    """A member who is not an operator may not kick, and nobody leaves."""
    alice, bob = room_ab
    with pytest.raises(errors.NotOperator) as raised:
        chat.hub.kick(bob, "#a", "alice")
    assert str(raised.value) == "You are not an operator of #a."
    assert list(chat.hub.find_room("#a").members) == ["alice", "bob"]
    assert chat.got(alice) == []


def test_kick_needs_membership(chat, room_ab):
    """Somebody outside a room, even a server operator, may not kick from it."""
    carol = chat.user("carol")
    carol.is_operator = True
    with pytest.raises(errors.NotInRoom):
        chat.hub.kick(carol, "#a", "bob")


def test_kick_target_not_in_room(chat, room_ab):
    """Kicking somebody who is not in the room raises TargetNotInRoom."""
    alice, _ = room_ab
    chat.user("carol")
    with pytest.raises(errors.TargetNotInRoom) as raised:
        chat.hub.kick(alice, "#a", "CAROL")
    assert str(raised.value) == "carol is not in #a."


def test_kick_nobody(chat, room_ab):
    """Kicking a nick nobody has raises NoSuchNick."""
    alice, _ = room_ab
    with pytest.raises(errors.NoSuchNick):
        chat.hub.kick(alice, "#a", "ghost")


def test_kicked_loses_member_modes(chat, room_ab):
    """A kicked operator is no operator when they come back."""
    alice, bob = room_ab
    chat.modes(alice, "#a", (True, RoomMode.OPERATOR, "bob"))
    chat.hub.kick(alice, "#a", "bob")
    chat.hub.join(bob, "#a")
    assert chat.hub.find_room("#a").operators == {alice}


def test_kick_self_last_member(chat):
    """An operator alone in a room may kick themselves, and the room ceases to exist."""
    alice = chat.in_room("alice", "#a")
    chat.clear(alice)
    chat.hub.kick(alice, "#a", "alice")
    assert chat.hub.rooms() == []
    assert chat.got(alice) == []


# Away

def test_set_away(chat):
    """Going away records the message and tells everyone sharing a room, once each."""
    alice = chat.in_room("alice", "#a", "#b")
    bob = chat.in_room("bob", "#a", "#b")
    carol = chat.in_room("carol", "#c")
    chat.clear(alice, bob, carol)
    event = chat.hub.set_away(alice, "  lunch\x1b  ")
    assert isinstance(event, AwayChanged)
    assert (event.source.nick, event.message, event.time) == ("alice", "lunch", 1000.0)
    assert alice.away == "lunch"
    assert chat.got(bob) == [event]
    assert chat.got(alice) == []
    assert chat.got(carol) == []


def test_set_back(chat):
    """An empty (or blank) message marks the user back."""
    alice = chat.in_room("alice", "#a")
    bob = chat.in_room("bob", "#a")
    chat.hub.set_away(alice, "lunch")
    chat.clear(bob)
    event = chat.hub.set_away(alice, "   ")
    assert (event.message, alice.away) == ("", "")
    assert chat.got(bob) == [event]


def test_away_truncated(chat):
    """An away message is cut to its maximum length."""
    alice = chat.user("alice")
    assert chat.hub.set_away(alice, "z" * 1000).message == "z" * AWAY_MAX_LENGTH
    assert AWAY_MAX_LENGTH == 300


# Server operators

@pytest.fixture
def opers():
    return Chat(operators=Operators({"root": OPER_HASH}))


def test_become_operator(opers):
    """The right operator name and password make a user a server operator."""
    alice = opers.user("alice")
    assert alice.is_operator is False
    opers.hub.become_operator(alice, "root", "s3cret")
    assert alice.is_operator is True


@pytest.mark.parametrize("name, password", [("root", "wrong"), ("admin", "s3cret"),
                                            ("ROOT", "s3cret"), ("root", "")])
def test_become_operator_refused(opers, name, password):
    """A wrong operator name or password is refused with the same message."""
    alice = opers.user("alice")
    with pytest.raises(errors.PasswordMismatch) as raised:
        opers.hub.become_operator(alice, name, password)
    assert str(raised.value) == "Wrong operator name or password."
    assert alice.is_operator is False


def test_no_operators_configured(chat):
    """A hub without operators refuses everyone."""
    with pytest.raises(errors.PasswordMismatch):
        chat.hub.become_operator(chat.user("alice"), "", "")


def test_kill(opers):
    """A server operator's kill signs the target out and tells their neighbours why."""
    alice = opers.in_room("alice", "#a")
    bob = opers.in_room("bob", "#a")
    carol = opers.in_room("carol", "#a")
    opers.hub.become_operator(alice, "root", "s3cret")
    opers.clear(alice, carol)
    target, event = opers.hub.kill(alice, "BOB", "spam\x1b")
    assert target is bob
    assert isinstance(event, Quit)
    assert (event.source.nick, event.reason) == ("bob", "Killed by alice (spam)")
    assert opers.got(carol) == [event]
    assert opers.got(alice) == [event]
    assert opers.hub.user_count == 2
    with pytest.raises(errors.NoSuchNick):
        opers.hub.find_user("bob")


def test_kill_needs_server_operator(opers):
    """A user who is not a server operator may not kill, even as a room operator."""
    alice = opers.in_room("alice", "#a")
    bob = opers.in_room("bob", "#a")
    with pytest.raises(errors.NoPrivileges) as raised:
        opers.hub.kill(alice, "bob", "bye")
    assert str(raised.value) == "Only server operators may do that."
    assert opers.hub.find_user("bob") is bob


def test_kill_nobody(opers):
    """Killing a nick nobody has raises NoSuchNick."""
    alice = opers.user("alice")
    opers.hub.become_operator(alice, "root", "s3cret")
    with pytest.raises(errors.NoSuchNick):
        opers.hub.kill(alice, "ghost", "bye")


# WHOWAS

def test_whowas_unknown(chat):
    """Nobody has used a nick that was never used."""
    chat.user("alice")
    assert chat.hub.whowas("alice") == []
    assert chat.hub.whowas("ghost") == []


def test_whowas_after_quit(chat):
    """After a quit WHOWAS finds the nick, user name, host, real name and when they left."""
    alice = chat.hub.register("Alice", Inbox(chat.wire), username="al", host="h.example",
                              realname="Alice Liddell")
    chat.clock.advance(60)
    chat.hub.quit(alice)
    [gone] = chat.hub.whowas("ALICE")
    assert (gone.nick, gone.username, gone.host, gone.realname, gone.time) == (
        "Alice", "al", "h.example", "Alice Liddell", 1060.0)


def test_whowas_after_rename(chat):
    """After a rename WHOWAS finds the old nick, and not the new one."""
    alice = chat.user("alice")
    chat.hub.rename(alice, "alicia")
    assert [d.nick for d in chat.hub.whowas("alice")] == ["alice"]
    assert chat.hub.whowas("alicia") == []


def test_whowas_most_recent_first(chat):
    """Several people who used a nick are listed most recent first, and other nicks are left out."""
    for host in ("one", "two", "three"):
        user = chat.user("bob", host=host)
        chat.hub.quit(chat.user("carol", host=host))
        chat.clock.advance(1)
        chat.hub.quit(user)
    assert [(d.host, d.time) for d in chat.hub.whowas("bob")] == [
        ("three", 1003.0), ("two", 1002.0), ("one", 1001.0)]


def test_whowas_rfc1459(chat):
    """WHOWAS folds nicks as the rest of the hub does."""
    chat.hub.quit(chat.user("Bob[x]"))
    assert [d.nick for d in chat.hub.whowas("bob{X}")] == ["Bob[x]"]


def test_whowas_bounded(chat):
    """WHOWAS keeps only the most recent departures."""
    assert WHOWAS_KEPT == 200
    for number in range(WHOWAS_KEPT + 1):
        chat.hub.quit(chat.user("bob", host=str(number)))
    found = chat.hub.whowas("bob")
    assert len(found) == WHOWAS_KEPT
    assert (found[0].host, found[-1].host) == (str(WHOWAS_KEPT), "1")


def test_invitation_forgotten_on_quit(chat, room_ab):
    """A room forgets the invitations of someone who signs out, so it holds no reference to them."""
    alice, bob = room_ab
    carol = chat.user("carol")
    chat.hub.invite(alice, "carol", "#a")
    assert carol in chat.hub.find_room("#a").invited
    chat.hub.quit(carol)
    assert carol not in chat.hub.find_room("#a").invited


def test_away_unchanged_is_silent(chat, room_ab):
    """Marking someone back who was never away, or away with the same message, changes nothing and tells nobody."""
    alice, bob = room_ab
    assert chat.hub.set_away(alice, "") is None
    assert chat.hub.set_away(alice, "lunch") is not None
    chat.clear(bob)
    assert chat.hub.set_away(alice, "lunch") is None
    assert chat.got(bob) == []


def test_kill_reason_keeps_parenthesis(opers):
    """A long kill reason is shortened inside its parentheses, so the quit reason stays well formed."""
    root = opers.user("root")
    opers.hub.become_operator(root, "root", "s3cret")
    opers.user("victim")
    _, event = opers.hub.kill(root, "victim", "x" * 1000)
    assert event.reason.startswith("Killed by root (x")
    assert event.reason.endswith(")")
    assert len(event.reason) <= 300
