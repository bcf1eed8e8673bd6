"""
Tests for room moderation in the line front end: /kick, /invite, /away,
/join with a password, mode changes told in words, CTCP, and where plain lines
go after a kick.  Over L{StringTransport}s on a fake clock.
"""

from __future__ import annotations

import pytest

from chatservice.core.events import Kind
from chatservice.core.rooms import ModeChange, RoomMode
from unit_helpers import LineServer


@pytest.fixture
def line_server():
    return LineServer()


@pytest.fixture
def trio(line_server):
    """alice (operator of #lobby), bob and carol, all in #lobby, with nothing unread."""
    alice = line_server.sign_in("alice")
    bob = line_server.sign_in("bob")
    carol = line_server.sign_in("carol")
    alice.take(), bob.take()
    return alice, bob, carol


def change_modes(line_server, nick, room, *changes):
    """Have C{nick} change C{room}'s modes through the hub, as another front end would."""
    user = line_server.hub.find_user(nick)
    return line_server.hub.change_modes(user, room, [ModeChange(*c) for c in changes])


# /kick

def test_kick(trio):
    """/kick removes someone from the current room; the kicker is told, everyone else sees it with the reason."""
    alice, bob, carol = trio
    alice.line("/kick bob   stop \x02shouting\x02 ")
    assert alice.take() == ["*** You kicked bob from #lobby."]
    assert bob.take() == ["*** alice kicked bob from #lobby (stop shouting)"]
    assert carol.take() == ["*** alice kicked bob from #lobby (stop shouting)"]


def test_kick_without_reason(trio):
    """/kick without a reason shows none."""
    alice, bob, carol = trio
    alice.line("/kick BOB")
    assert alice.take() == ["*** You kicked bob from #lobby."]
    assert bob.take() == ["*** alice kicked bob from #lobby"]


def test_kick_not_operator(trio, line_server):
    """/kick by somebody who is not an operator is refused and nobody else hears of it."""
    alice, bob, carol = trio
    bob.line("/kick carol")
    assert bob.take() == ["*** You are not an operator of #lobby."]
    assert alice.take() == []
    assert carol.take() == []
    assert len(line_server.hub.find_room("#lobby").members) == 3


@pytest.mark.parametrize("line, reply", [
    ("/kick", "*** Usage: /kick NICK [reason]"),
    ("/kick ghost", "*** Nobody is called ghost."),
])
def test_kick_refused(trio, line, reply):
    """/kick without a nick shows its usage, and /kick of an unknown nick says so."""
    alice, _, _ = trio
    alice.line(line)
    assert alice.take() == [reply]


def test_kick_target_elsewhere(trio):
    """/kick of somebody who is not in the current room says so."""
    alice, bob, _ = trio
    alice.line("/join #ops")
    alice.take()
    alice.line("/kick bob")
    assert alice.take() == ["*** bob is not in #ops."]


def test_kicked_current_room_follows(trio):
    """After a kick from the current room, plain lines go to the most recent other room."""
    alice, bob, carol = trio
    alice.line("/join #ops")
    bob.line("/join #ops")
    alice.take(), bob.take()
    alice.line("/kick bob")
    alice.take(), bob.take(), carol.take()
    bob.line("still here")
    assert bob.take() == []
    assert alice.take() == ["[#lobby] <bob> still here"]
    assert carol.take() == ["[#lobby] <bob> still here"]


def test_kicked_from_only_room(trio):
    """Somebody kicked from their only room is told to join one when they speak."""
    alice, bob, _ = trio
    alice.line("/kick bob")
    alice.take(), bob.take()
    bob.line("hello?")
    assert bob.take() == ["*** You are not in a room: /join one first."]
    assert alice.take() == []


def test_kicked_rejoin_is_current(trio):
    """Somebody kicked who joins the room again talks in it again."""
    alice, bob, _ = trio
    alice.line("/join #ops")
    bob.line("/join #ops")
    alice.line("/kick bob")
    bob.line("/join #ops")
    alice.take(), bob.take()
    bob.line("sorry")
    assert alice.take() == ["[#ops] <bob> sorry"]


# /invite

def test_invite(trio):
    """/invite tells the inviter and the invited person, who is shown how to join, and nobody else."""
    alice, bob, carol = trio
    alice.line("/join #ops")
    alice.take()
    alice.line("/invite Carol")
    assert alice.take() == ["*** You invited carol to #ops."]
    assert carol.take() == ["*** alice invites you to #ops (/join #ops)"]
    assert bob.take() == []


def test_invite_only_room(trio, line_server):
    """An invitation lets its holder /join an invite-only room that refuses everyone else."""
    alice, bob, carol = trio
    alice.line("/join #ops")
    change_modes(line_server, "alice", "#ops", (True, RoomMode.INVITE_ONLY))
    alice.line("/invite carol")
    alice.take(), carol.take()
    bob.line("/join #ops")
    assert bob.take() == ["*** #ops is invite-only."]
    carol.line("/join #ops")
    assert carol.take() == ["*** You joined #ops; 1 other here.", "*** #ops has no topic."]
    assert alice.take() == ["*** carol joined #ops"]


def test_invite_only_needs_operator(trio, line_server):
    """/invite to an invite-only room by somebody who is not an operator is refused."""
    alice, bob, carol = trio
    alice.line("/join #ops")
    bob.line("/join #ops")
    change_modes(line_server, "alice", "#ops", (True, RoomMode.INVITE_ONLY))
    bob.take()
    bob.line("/invite carol")
    assert bob.take() == ["*** You are not an operator of #ops."]
    assert carol.take() == []


@pytest.mark.parametrize("line, reply", [
    ("/invite", "*** Usage: /invite NICK"),
    ("/invite ghost", "*** Nobody is called ghost."),
    ("/invite BOB", "*** bob is already in #lobby."),
])
def test_invite_refused(trio, line, reply):
    """/invite without a nick shows its usage; an unknown nick or a member is refused."""
    alice, bob, _ = trio
    alice.line(line)
    assert alice.take() == [reply]
    assert bob.take() == []


# /away

def test_away(trio, line_server):
    """/away with a message marks the user away, confirms it, and shows others nothing."""
    alice, bob, carol = trio
    alice.line("/away gone   fishing")
    assert alice.take() == ["*** You are marked away: gone   fishing"]
    assert line_server.hub.find_user("alice").away == "gone   fishing"
    assert bob.take() == []
    assert carol.take() == []


def test_back(trio, line_server):
    """/away without a message marks the user back."""
    alice, bob, _ = trio
    alice.line("/away lunch")
    alice.take()
    alice.line("/away")
    assert alice.take() == ["*** You are no longer marked away."]
    assert line_server.hub.find_user("alice").away == ""
    assert bob.take() == []


def test_away_confirms_what_was_kept(trio, line_server):
    """/away confirms the message as the hub keeps it: cut to its maximum length, formatting stripped."""
    alice, _, _ = trio
    alice.line("/away \x02" + "z" * 400)
    assert alice.take() == ["*** You are marked away: " + "z" * 299]
    assert line_server.hub.find_user("alice").away == "\x02" + "z" * 299


def test_msg_to_away_user(trio):
    """A /msg to somebody away is delivered and followed by their away message."""
    alice, bob, _ = trio
    alice.line("/away in a \x1fmeeting")
    alice.take()
    bob.line("/msg ALICE are you there?")
    assert bob.take() == ["[to alice] <bob> are you there?", "*** alice is away: in a meeting"]
    assert alice.take() == ["[private] <bob> are you there?"]


def test_msg_after_back(trio):
    """A /msg to somebody who came back is followed by no away message."""
    alice, bob, _ = trio
    alice.line("/away lunch")
    alice.line("/away")
    alice.take()
    bob.line("/msg alice hi")
    assert bob.take() == ["[to alice] <bob> hi"]


# /join with a password

@pytest.fixture
def vault(trio, line_server):
    """alice in #vault, whose key is sesame; the others' output is empty."""
    alice, bob, carol = trio
    alice.line("/join #vault")
    change_modes(line_server, "alice", "#vault", (True, RoomMode.KEY, "sesame"))
    alice.take()
    return trio


@pytest.mark.parametrize("line", ["/join #vault", "/join #vault Sesame", "/join vault open"])
def test_join_wrong_password(vault, line):
    """/join of a room with a password, without it or with a wrong one, is refused without showing it."""
    alice, bob, _ = vault
    bob.line(line)
    assert bob.take() == ["*** #vault needs the right password."]
    assert alice.take() == []


@pytest.mark.parametrize("line", ["/join #vault sesame", "/join vault   sesame  "])
def test_join_with_password(vault, line):
    """/join #room password enters a room with that password."""
    alice, bob, _ = vault
    bob.line(line)
    assert bob.take() == ["*** You joined #vault; 1 other here.", "*** #vault has no topic."]
    assert alice.take() == ["*** bob joined #vault"]
    bob.line("psst")
    assert alice.take() == ["[#vault] <bob> psst"]


def test_join_password_of_room_already_in(vault):
    """/join with a password of a room one is in switches to it, whatever the password."""
    alice, _, _ = vault
    alice.line("/join #lobby")
    alice.line("/join #vault nonsense")
    assert alice.take() == ["*** You are now talking in #lobby.",
                            "*** You are now talking in #vault."]


@pytest.mark.parametrize("line, reply", [
    ("/join #full", "*** #full is full."),
    ("/join #banned", "*** You are banned from #banned."),
])
def test_join_refusals(trio, line_server, line, reply):
    """/join of a full room or one that bans the user says why."""
    alice, bob, _ = trio
    alice.line("/join #full")
    alice.line("/join #banned")
    change_modes(line_server, "alice", "#full", (True, RoomMode.LIMIT, "1"))
    change_modes(line_server, "alice", "#banned", (True, RoomMode.BAN, "*!*@1.2.3.*"))
    bob.line(line)
    assert bob.take() == [reply]


# Mode changes in words

WORDS = [
    (RoomMode.TOPIC_LOCKED, None, "locked the topic", "unlocked the topic"),
    (RoomMode.NO_OUTSIDE, None, "closed the room to outside messages",
     "opened the room to outside messages"),
    (RoomMode.MODERATED, None, "moderated the room", "unmoderated the room"),
    (RoomMode.INVITE_ONLY, None, "made the room invite-only", "opened the room to everyone"),
    (RoomMode.SECRET, None, "made the room secret", "made the room public"),
    (RoomMode.KEY, "sesame", "set a password", "removed the password"),
    (RoomMode.LIMIT, "5", "limited the room to 5 members", "removed the member limit"),
    (RoomMode.BAN, "dave", "banned dave!*@*", "unbanned dave!*@*"),
    (RoomMode.INVITE_EXCEPTION, "dave", "let dave!*@* in without an invitation",
     "no longer lets dave!*@* in without an invitation"),
    (RoomMode.BAN_EXCEPTION, "dave", "exempted dave!*@* from bans",
     "no longer exempts dave!*@* from bans"),
    (RoomMode.NO_CTCP, None, "closed the room to CTCP requests",
     "opened the room to CTCP requests"),
    (RoomMode.OPERATOR, "BOB", "made bob an operator", "took operator status from bob"),
    (RoomMode.VOICE, "bob", "gave bob a voice", "took the voice from bob"),
]


def test_words_cover_every_mode():
    """The table of words below covers every room mode."""
    assert {row[0] for row in WORDS} == set(RoomMode)


@pytest.mark.parametrize("mode, argument, on, off", WORDS, ids=[row[0].value for row in WORDS])
def test_mode_change_in_words(trio, line_server, mode, argument, on, off):
    """Each mode change, set and cleared, is told to line users in words naming who and where."""
    alice, bob, carol = trio
    line_server.hub.find_room("#lobby").flags.clear()
    change_modes(line_server, "alice", "#lobby", (True, mode, argument))
    assert bob.take() == [f"*** alice {on} in #lobby"]
    assert carol.take() == [f"*** alice {on} in #lobby"]
    change_modes(line_server, "alice", "#lobby", (False, mode, argument))
    assert bob.take() == [f"*** alice {off} in #lobby"]
    assert alice.take() == []


def test_several_mode_changes_one_line(trio, line_server):
    """Several mode changes at once are told in one line, in order."""
    alice, bob, _ = trio
    change_modes(line_server, "alice", "#lobby", (True, RoomMode.MODERATED),
                 (True, RoomMode.VOICE, "bob"), (True, RoomMode.LIMIT, "10"),
                 (False, RoomMode.TOPIC_LOCKED))
    assert bob.take() == ["*** alice moderated the room, gave bob a voice, limited the room "
                          "to 10 members, unlocked the topic in #lobby"]


def test_key_never_shown(trio, line_server):
    """A room password appears in nothing a line user is shown when it is set, used or removed."""
    alice, bob, carol = trio
    change_modes(line_server, "alice", "#lobby", (True, RoomMode.KEY, "hunter2"),
                 (True, RoomMode.SECRET))
    carol.line("/part")
    carol.line("/join #lobby hunter2")
    change_modes(line_server, "alice", "#lobby", (False, RoomMode.KEY, "hunter2"))
    for client in (alice, bob, carol):
        client.line("/rooms")
        client.line("/who")
        client.line("/help")
    output = alice.raw() + bob.raw() + carol.raw()
    assert b"hunter2" not in output
    assert b"*** alice set a password, made the room secret in #lobby" in bob.raw()
    assert b"*** alice removed the password in #lobby" in carol.raw()


def test_secret_room_hidden(trio, line_server):
    """/rooms lists a secret room only to its members."""
    alice, bob, _ = trio
    alice.line("/join #hidden")
    change_modes(line_server, "alice", "#hidden", (True, RoomMode.SECRET))
    alice.take()
    bob.line("/rooms")
    assert bob.take() == ["*** 1 room:", "***   #lobby (3)"]
    alice.line("/rooms")
    assert alice.take() == ["*** 2 rooms:", "***   #hidden (1)", "***   #lobby (3)"]


def test_secret_room_who(trio, line_server):
    """/who of a secret room answers its members, and non-members as if it did not exist."""
    alice, bob, _ = trio
    alice.line("/join #hidden")
    change_modes(line_server, "alice", "#hidden", (True, RoomMode.SECRET))
    alice.take()
    bob.line("/who #hidden")
    assert bob.take() == ["*** There is no room called #hidden."]
    alice.line("/who #hidden")
    assert alice.take() == ["*** In #hidden (1): @alice"]


def test_moderated_room_refuses_line_user(trio, line_server):
    """A line user without a voice in a moderated room is told they cannot speak, and nobody hears them."""
    alice, bob, carol = trio
    change_modes(line_server, "alice", "#lobby", (True, RoomMode.MODERATED))
    bob.take(), carol.take()
    bob.line("hello?")
    assert bob.take() == ["*** You cannot speak in #lobby now."]
    assert alice.take() == carol.take() == []


def test_topic_locked_line_user(trio):
    """/topic by a line user who is not an operator of a topic-locked room is refused."""
    alice, bob, _ = trio
    bob.line("/topic mine")
    assert bob.take() == ["*** You are not an operator of #lobby."]
    assert alice.take() == []


# CTCP

def test_ctcp_to_room_dropped(trio, line_server):
    """A CTCP request said to a room shows nothing to line users."""
    alice, bob, _ = trio
    line_server.hub.say(line_server.hub.find_user("bob"), "#lobby", "\x01VERSION\x01")
    assert alice.take() == []


@pytest.mark.parametrize("kind", [Kind.SAY, Kind.NOTICE])
def test_ctcp_private_dropped(trio, line_server, kind):
    """A private CTCP request or reply shows nothing to a line user."""
    alice, _, _ = trio
    line_server.hub.tell(line_server.hub.find_user("bob"), "alice", "\x01PING 123\x01", kind)
    assert alice.take() == []


def test_action_shown(trio, line_server):
    """An action from another front end is shown as an action."""
    alice, _, _ = trio
    line_server.hub.say(line_server.hub.find_user("bob"), "#lobby", "waves", Kind.ACTION)
    assert alice.take() == ["[#lobby] * bob waves"]


def test_ctcp_delimiter_inside_text_shown(trio, line_server):
    """Text with a CTCP delimiter that does not start with one is shown, the delimiter stripped."""
    alice, _, _ = trio
    line_server.hub.say(line_server.hub.find_user("bob"), "#lobby", "hi \x01there")
    assert alice.take() == ["[#lobby] <bob> hi there"]
