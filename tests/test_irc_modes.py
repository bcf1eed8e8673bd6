"""
Tests for IRC's MODE command: user modes and channel modes.
"""

from __future__ import annotations

import pytest

from chatservice.core.rooms import RoomMode
from irc_helpers import MixedServer

ALICE = "alice!~alice@1.2.3.4"


@pytest.fixture
def server():
    return MixedServer()


@pytest.fixture
def trio(server):
    """alice (the operator), bob and carol, IRC users in #lobby, with nothing unread."""
    return server.room("#lobby", "alice", "bob", "carol")


# User modes

def test_user_mode_query(server):
    """MODE on oneself without changes gets 221."""
    alice = server.register("alice")
    assert alice.said("MODE alice") == [":chatservice 221 alice +"]


def test_user_mode_invisible(server):
    """+i and -i are confirmed with MODE and shown by 221; repeating a mode changes nothing."""
    alice = server.register("alice")
    assert alice.said("MODE alice +i") == [":alice!~alice@1.2.3.4 MODE alice +i"]
    assert server.hub.find_user("alice").invisible
    assert alice.said("MODE alice +i") == []
    assert alice.said("MODE alice") == [":chatservice 221 alice +i"]
    assert alice.said("MODE ALICE -i") == [":alice!~alice@1.2.3.4 MODE alice -i"]
    assert not server.hub.find_user("alice").invisible


def test_user_mode_cannot_self_oper(server):
    """+o on oneself is ignored."""
    alice = server.register("alice")
    assert alice.said("MODE alice +o") == []
    assert not server.hub.find_user("alice").is_operator


def test_user_mode_other_user(trio):
    """MODE on somebody else gets 502."""
    alice, bob, carol = trio
    assert alice.said("MODE bob +i") == [
        ":chatservice 502 alice :Cant change mode for other users"]
    assert alice.said("MODE bob") == [":chatservice 502 alice :Cant change mode for other users"]


def test_user_mode_unknown(server):
    """An unknown user mode letter gets 501; known letters beside it still apply."""
    alice = server.register("alice")
    assert alice.said("MODE alice +xi") == [
        ":chatservice 501 alice :Unknown MODE flag", ":alice!~alice@1.2.3.4 MODE alice +i"]


def test_user_mode_no_such_nick(server):
    """MODE on a nick nobody has gets 401."""
    assert server.register("alice").said("MODE ghost") == [
        ":chatservice 401 alice ghost :No such nick/channel"]


def test_mode_needs_target(server):
    """MODE without a target gets 461."""
    assert server.register("alice").said("MODE") == [
        ":chatservice 461 alice MODE :Not enough parameters"]


# Channel modes: queries

def test_channel_mode_query(server):
    """MODE #channel gets 324 with the default modes and 329 with the creation time."""
    server.clock.advance(500)
    alice, = server.room("#lobby", "alice")
    assert alice.said("MODE #lobby") == [
        ":chatservice 324 alice #lobby +nt", ":chatservice 329 alice #lobby 500"]


def test_channel_mode_query_key_hidden(trio, server):
    """Members see the key in 324; non-members see * instead."""
    alice, bob, carol = trio
    alice.line("MODE #lobby +kl sesame 10")
    assert bob.said("MODE #lobby")[0] == ":chatservice 324 bob #lobby +ntkl sesame 10"
    dave = server.register("dave")
    assert dave.said("MODE #lobby")[0] == ":chatservice 324 dave #lobby +ntkl * 10"


def test_channel_mode_query_no_modes(trio):
    """A channel without modes shows + in 324."""
    alice, bob, carol = trio
    alice.line("MODE #lobby -nt")
    assert bob.said("MODE #lobby")[0] == ":chatservice 324 bob #lobby +"


def test_channel_mode_no_such_channel(server):
    """MODE on a channel that does not exist gets 403."""
    assert server.register("alice").said("MODE #nowhere +m") == [
        ":chatservice 403 alice #nowhere :No such channel"]


# Channel modes: changes

@pytest.mark.parametrize("change, shown, check", [
    ("+o bob", "+o bob", lambda room, bob: room.is_operator(bob)),
    ("+v bob", "+v bob", lambda room, bob: bob in room.voiced),
    ("+m", "+m", lambda room, bob: RoomMode.MODERATED in room.flags),
    ("+i", "+i", lambda room, bob: RoomMode.INVITE_ONLY in room.flags),
    ("+s", "+s", lambda room, bob: RoomMode.SECRET in room.flags),
    ("-t", "-t", lambda room, bob: RoomMode.TOPIC_LOCKED not in room.flags),
    ("-n", "-n", lambda room, bob: RoomMode.NO_OUTSIDE not in room.flags),
    ("+k sesame", "+k sesame", lambda room, bob: room.password == "sesame"),
    ("+l 5", "+l 5", lambda room, bob: room.limit == 5),
    ("+b *!*@evil.example", "+b *!*@evil.example", lambda room, bob: len(room.bans) == 1),
])
def test_channel_mode_change_broadcast(trio, server, change, shown, check):
    """An operator's mode change is echoed and every member sees it."""
    alice, bob, carol = trio
    expected = [f":{ALICE} MODE #lobby {shown}"]
    assert alice.said(f"MODE #lobby {change}") == expected
    assert bob.take() == expected
    assert carol.take() == expected
    room = server.hub.find_room("#lobby")
    assert check(room, server.hub.find_user("bob"))


def test_channel_mode_removals(trio, server):
    """Modes are removed again with -; removing a key shows *."""
    alice, bob, carol = trio
    alice.line("MODE #lobby +ovmkl bob bob key 3")
    alice.take(), bob.take()
    assert alice.said("MODE #lobby -ovmkl bob bob key") == [
        f":{ALICE} MODE #lobby -ovmkl bob bob *"]
    assert carol.take() == [f":{ALICE} MODE #lobby +ovmkl bob bob key 3",
                            f":{ALICE} MODE #lobby -ovmkl bob bob *"]
    room = server.hub.find_room("#lobby")
    assert room.password is None and room.limit is None and room.voiced == set()


def test_channel_mode_several(trio):
    """Several changes in one MODE are shown together, in order, with their arguments."""
    alice, bob, carol = trio
    assert alice.said("MODE #lobby +mv-t carol") == [f":{ALICE} MODE #lobby +mv-t carol"]


def test_channel_mode_no_op_changes_nothing(trio):
    """Setting a mode that is already set changes nothing and shows nothing."""
    alice, bob, carol = trio
    assert alice.said("MODE #lobby +nt") == []
    assert alice.said("MODE #lobby -m") == []
    assert bob.take() == []


def test_channel_mode_bad_limit_ignored(trio):
    """A limit that is not a positive number is ignored."""
    alice, bob, carol = trio
    assert alice.said("MODE #lobby +l zero") == []
    assert alice.said("MODE #lobby +l 0") == []


def test_channel_mode_arguments_missing_ignored(trio):
    """A mode that needs an argument and has none is ignored."""
    alice, bob, carol = trio
    assert alice.said("MODE #lobby +k") == []
    assert alice.said("MODE #lobby +o") == []


def test_ban_list(trio, server):
    """+b without a mask lists the bans with 367 and 368; masks are completed."""
    alice, bob, carol = trio
    server.clock.advance(77)
    alice.line("MODE #lobby +b spammer")
    alice.line("MODE #lobby +b *@bad.host")
    assert carol.said("MODE #lobby +b") == [
        ":chatservice 367 carol #lobby spammer!*@* alice 77",
        ":chatservice 367 carol #lobby *!*@bad.host alice 77",
        ":chatservice 368 carol #lobby :End of channel ban list",
    ]
    assert carol.said("MODE #lobby b") == carol.said("MODE #lobby +b")


def test_ban_removal(trio):
    """-b removes a ban and is shown to everybody."""
    alice, bob, carol = trio
    alice.line("MODE #lobby +b bad!*@*")
    bob.take()
    assert alice.said("MODE #lobby -b bad!*@*") == [f":{ALICE} MODE #lobby -b bad!*@*"]
    assert bob.take() == [f":{ALICE} MODE #lobby -b bad!*@*"]
    assert bob.said("MODE #lobby +b") == [":chatservice 368 bob #lobby :End of channel ban list"]


def test_unknown_channel_mode(trio):
    """An unknown channel mode letter gets 472; known letters beside it still apply."""
    alice, bob, carol = trio
    assert alice.said("MODE #lobby +zm") == [
        ":chatservice 472 alice z :is unknown mode char to me", f":{ALICE} MODE #lobby +m"]


def test_channel_mode_non_operator(trio):
    """A member who is not an operator gets 482 and nothing changes."""
    alice, bob, carol = trio
    assert bob.said("MODE #lobby +m") == [
        ":chatservice 482 bob #lobby :You're not channel operator"]
    assert alice.take() == []


def test_channel_mode_non_member(trio, server):
    """Somebody outside the channel cannot change its modes: 442."""
    dave = server.register("dave")
    assert dave.said("MODE #lobby +m") == [
        ":chatservice 442 dave #lobby :You're not on that channel"]


def test_channel_mode_target_not_on_channel(trio, server):
    """+o for someone not on the channel gets 441; the other changes still apply."""
    alice, bob, carol = trio
    server.register("dave")
    assert alice.said("MODE #lobby +ov dave bob") == [
        ":chatservice 441 alice dave #lobby :They aren't on that channel",
        f":{ALICE} MODE #lobby +v bob",
    ]


def test_channel_mode_target_nobody(trio):
    """+o for a nick nobody has gets 401 naming that nick."""
    alice, bob, carol = trio
    assert alice.said("MODE #lobby +o ghost") == [
        ":chatservice 401 alice ghost :No such nick/channel"]
    assert alice.said("MODE #lobby +ovv ghost bob phantom") == [
        ":chatservice 401 alice ghost :No such nick/channel",
        ":chatservice 401 alice phantom :No such nick/channel",
        f":{ALICE} MODE #lobby +v bob",
    ]


def test_new_operator_can_act(trio):
    """A member made operator may then change modes and kick."""
    alice, bob, carol = trio
    alice.line("MODE #lobby +o bob")
    bob.take()
    assert bob.said("MODE #lobby +m") == [":bob!~bob@1.2.3.4 MODE #lobby +m"]
    assert bob.said("KICK #lobby carol")[0] == ":bob!~bob@1.2.3.4 KICK #lobby carol bob"


def test_deopped_loses_rights(trio):
    """An operator who is de-opped gets 482 afterwards."""
    alice, bob, carol = trio
    alice.line("MODE #lobby +o bob")
    bob.line("MODE #lobby -o alice")
    assert alice.said("MODE #lobby +m") == [
        ":chatservice 482 alice #lobby :You're not channel operator"]


def test_mode_seen_by_line_user(trio, server):
    """A line user in the channel sees IRC mode changes in words."""
    alice, bob, carol = trio
    dave = server.sign_in_line("dave")
    alice.take()
    alice.line("MODE #lobby +mv dave")
    assert dave.take() == ["*** alice moderated the room, gave dave a voice in #lobby"]


def test_key_never_shown_to_line_user(trio, server):
    """A key set over IRC is not shown to line users."""
    alice, bob, carol = trio
    dave = server.sign_in_line("dave")
    alice.line("MODE #lobby +k sesame")
    assert dave.take() == ["*** alice set a password in #lobby"]
