"""
Tests for L{chatservice.core.rooms}: rooms, ban masks and how masks match.
"""

from __future__ import annotations

import pytest

from chatservice.core.hub import User
from chatservice.core.rooms import (
    FLAGS,
    MEMBER_MODES,
    Ban,
    ModeChange,
    Room,
    RoomMode,
    mask_matcher,
    normalize_mask,
)


def person(nick: str, username: str | None = None, host: str = "1.2.3.4") -> User:
    """A user with no connection, as a room sees them."""
    return User(nick, username or nick, host, client=None, now=0.0)


def member(room: Room, nick: str, **details) -> User:
    """A user put straight into C{room}'s members."""
    user = person(nick, **details)
    room.members[user.key] = user
    return user


# Modes

def test_flags_and_member_modes():
    """The flags are the six on/off modes and the member modes are operator and voice."""
    assert FLAGS == {RoomMode.TOPIC_LOCKED, RoomMode.NO_OUTSIDE, RoomMode.MODERATED,
                     RoomMode.INVITE_ONLY, RoomMode.SECRET, RoomMode.NO_CTCP}
    assert MEMBER_MODES == {RoomMode.OPERATOR, RoomMode.VOICE}


def test_mode_change_argument_defaults_to_none():
    """A ModeChange made without an argument has None as its argument."""
    assert ModeChange(True, RoomMode.MODERATED) == ModeChange(True, RoomMode.MODERATED, None)


# normalize_mask

@pytest.mark.parametrize(
    "mask, normal",
    [
        ("bob", "bob!*@*"),
        ("*", "*!*@*"),
        ("*@host.example", "*!*@host.example"),
        ("bob@host.example", "*!bob@host.example"),
        ("bob!ident", "bob!ident@*"),
        ("bob!*", "bob!*@*"),
        ("bob!ident@host", "bob!ident@host"),
        ("*!*@*", "*!*@*"),
    ],
)
def test_normalize_mask(mask, normal):
    """normalize_mask completes a partial nick!user@host mask with wildcards."""
    assert normalize_mask(mask) == normal


def test_normalize_mask_keeps_case():
    """normalize_mask keeps the case of the mask it completes."""
    assert normalize_mask("Bob[X]") == "Bob[X]!*@*"


# mask_matcher

@pytest.mark.parametrize(
    "mask, full, matches",
    [
        ("bob!*@*", "bob!bob@1.2.3.4", True),
        ("bob!*@*", "bobby!bob@1.2.3.4", False),
        ("bob*!*@*", "bobby!bob@1.2.3.4", True),
        ("*!*@*", "x!y@z", True),
        ("b?b!*@*", "bob!u@h", True),
        ("b?b!*@*", "bb!u@h", False),
        ("b?b!*@*", "boob!u@h", False),
        ("*!*@*.example.com", "a!b@irc.example.com", True),
        ("*!*@*.example.com", "a!b@example.com", False),
        ("*!*@10.0.0.*", "a!b@10.0.0.255", True),
        ("*!*@10.0.0.*", "a!b@10.0.1.1", False),
        ("a.b!*@*", "axb!u@h", False),
        ("a+b!*@*", "a+b!u@h", True),
        ("a+b!*@*", "aab!u@h", False),
        ("(x)!*@*", "(x)!u@h", True),
    ],
)
def test_mask_matcher_wildcards(mask, full, matches):
    """In a mask * stands for any run of characters, ? for exactly one, and everything else for itself."""
    assert bool(mask_matcher(mask).fullmatch(full)) is matches


def test_mask_matcher_folds_mask():
    """A mask's pattern is folded, so it matches the folded form of any spelling."""
    assert mask_matcher("BOB[X]!*@HOST").pattern == mask_matcher("bob{x}!*@host").pattern
    assert mask_matcher("BOB[X]!*@HOST").fullmatch("bob{x}!u@host")


# Room

def test_room_new():
    """A new room has its name, folded key, creation time and flags, and nothing else set."""
    room = Room("#Rust[x]", 42.0, frozenset({RoomMode.SECRET}))
    assert (room.name, room.key, room.created) == ("#Rust[x]", "#rust{x}", 42.0)
    assert (room.topic, room.topic_by, room.topic_time) == ("", "", 0.0)
    assert room.flags == {RoomMode.SECRET}
    assert (room.password, room.limit) == (None, None)
    assert room.members == {} and room.bans == {}
    assert room.invited == set() and room.operators == set() and room.voiced == set()
    assert repr(room) == "<Room #Rust[x] (0)>"


def test_room_flags_are_its_own():
    """A room's flags are a set of its own, not the frozenset it was made with."""
    flags = frozenset({RoomMode.MODERATED})
    room = Room("#a", 0.0, flags)
    room.flags.add(RoomMode.SECRET)
    assert flags == {RoomMode.MODERATED}


def test_is_member_identity():
    """is_member is true only for the very user filed under that key."""
    room = Room("#a", 0.0)
    bob = member(room, "bob")
    assert room.is_member(bob)
    assert not room.is_member(person("bob"))
    assert not room.is_member(person("carol"))


def test_is_operator():
    """is_operator is true only for users in the room's operators."""
    room = Room("#a", 0.0)
    alice, bob = member(room, "alice"), member(room, "bob")
    room.operators.add(alice)
    assert room.is_operator(alice)
    assert not room.is_operator(bob)


# Bans

def test_add_ban_records_who_and_when():
    """add_ban records the mask, who set it and when, and returns True."""
    room = Room("#a", 0.0)
    assert room.add_ban("bob!*@*", "alice", 7.0) is True
    assert room.bans == {"bob!*@*": Ban("bob!*@*", "alice", 7.0)}


def test_add_ban_twice():
    """Adding a ban already there returns False and keeps the first record."""
    room = Room("#a", 0.0)
    room.add_ban("bob!*@*", "alice", 7.0)
    assert room.add_ban("bob!*@*", "carol", 8.0) is False
    assert list(room.bans.values()) == [Ban("bob!*@*", "alice", 7.0)]


def test_add_ban_twice_other_case():
    """A ban that differs from an existing one only in case is the same ban."""
    room = Room("#a", 0.0)
    room.add_ban("Bob[X]!*@*", "alice", 7.0)
    assert room.add_ban("bob{x}!*@*", "carol", 8.0) is False
    assert list(room.bans.values()) == [Ban("Bob[X]!*@*", "alice", 7.0)]


def test_remove_ban():
    """remove_ban removes a ban, returns True, and the mask no longer matches."""
    room = Room("#a", 0.0)
    bob = member(room, "bob")
    room.add_ban("bob!*@*", "alice", 7.0)
    assert room.remove_ban("bob!*@*") is True
    assert room.bans == {}
    assert not room.is_banned(bob)


def test_remove_ban_other_case():
    """remove_ban removes a ban given in another case."""
    room = Room("#a", 0.0)
    bob = member(room, "bob")
    room.add_ban("Bob!*@*", "alice", 7.0)
    assert room.remove_ban("BOB!*@*") is True
    assert room.bans == {}
    assert not room.is_banned(bob)


def test_remove_missing_ban():
    """Removing a ban that is not there returns False."""
    room = Room("#a", 0.0)
    room.add_ban("bob!*@*", "alice", 7.0)
    assert room.remove_ban("carol!*@*") is False
    assert list(room.bans) == ["bob!*@*"]


def test_no_bans_nobody_banned():
    """In a room without bans nobody is banned."""
    room = Room("#a", 0.0)
    assert not room.is_banned(member(room, "bob"))


@pytest.mark.parametrize(
    "mask, banned",
    [
        ("bob!*@*", True),
        ("BOB!*@*", True),
        ("*!robert@*", True),
        ("*!*@*.example.org", True),
        ("*!*@HOME.EXAMPLE.ORG", True),
        ("bob!robert@home.example.org", True),
        ("b?b!r*t@*", True),
        ("carol!*@*", False),
        ("*!bob@*", False),
        ("bob!robert@elsewhere", False),
    ],
)
def test_is_banned_matches_full_address(mask, banned):
    """is_banned matches each ban against the user's nick!user@host, ignoring case."""
    room = Room("#a", 0.0)
    bob = member(room, "Bob", username="robert", host="home.example.org")
    room.add_ban(mask, "alice", 0.0)
    assert room.is_banned(bob) is banned


@pytest.mark.parametrize("mask", ["bob{away}!*@*", "BOB[AWAY]!*@*", "Bob[Away]!*@*", "*!x|y@*", "*!X\\Y@*"])
def test_is_banned_rfc1459(mask):
    """Ban matching uses rfc1459 folding: [ ] \\ ~ match { } | ^."""
    room = Room("#a", 0.0)
    user = member(room, "Bob[Away]", username="x\\y")
    room.add_ban(mask, "alice", 0.0)
    assert room.is_banned(user)


def test_is_banned_any_of_several():
    """A user matching any one of several bans is banned."""
    room = Room("#a", 0.0)
    bob = member(room, "bob", host="h")
    room.add_ban("carol!*@*", "alice", 0.0)
    room.add_ban("*!*@h", "alice", 0.0)
    assert room.is_banned(bob)
    room.remove_ban("*!*@h")
    assert not room.is_banned(bob)


# Speaking

def test_may_speak_plain():
    """In an unmoderated room a member who is not banned may speak."""
    room = Room("#a", 0.0)
    assert room.may_speak(member(room, "bob"))


def test_may_speak_moderated():
    """In a moderated room only operators and voiced members may speak."""
    room = Room("#a", 0.0, frozenset({RoomMode.MODERATED}))
    alice, bob, carol = member(room, "alice"), member(room, "bob"), member(room, "carol")
    room.operators.add(alice)
    room.voiced.add(bob)
    assert [room.may_speak(u) for u in (alice, bob, carol)] == [True, True, False]


def test_may_speak_banned():
    """A banned user may not speak unless they are an operator or voiced."""
    room = Room("#a", 0.0)
    alice, bob, carol = member(room, "alice"), member(room, "bob"), member(room, "carol")
    room.add_ban("*!*@*", "alice", 0.0)
    room.operators.add(alice)
    room.voiced.add(bob)
    assert [room.may_speak(u) for u in (alice, bob, carol)] == [True, True, False]


def test_may_speak_ignores_membership():
    """may_speak says whether messages would pass, not whether the speaker is a member."""
    room = Room("#a", 0.0)
    assert room.may_speak(person("outsider"))


# Leaving

def test_forget():
    """forget removes a user from the members, the operators and the voiced, and nobody else."""
    room = Room("#a", 0.0)
    alice, bob = member(room, "alice"), member(room, "bob")
    room.operators.update({alice, bob})
    room.voiced.update({alice, bob})
    room.forget(alice)
    assert room.members == {"bob": bob}
    assert room.operators == {bob}
    assert room.voiced == {bob}
