"""
Tests for a room shared by line users and IRC users: each sees the other's
doings in its own wire format.
"""

from __future__ import annotations

import pytest
from twisted.internet import error

from chatservice.core.rooms import ModeChange, RoomMode
from irc_helpers import MixedServer

ALICE = "alice!~alice@1.2.3.4"
BOB = "bob!~bob@1.2.3.4"
LENA = "lena!lena@1.2.3.4"


@pytest.fixture
def server():
    return MixedServer()


@pytest.fixture
def room(server):
    """
    Line user lena (who made #lobby, so its operator) and IRC users alice
    and bob, all in #lobby, with nothing unread.
    """
    lena = server.sign_in_line("lena")
    alice, bob = server.room("#lobby", "alice", "bob")
    lena.take()
    return lena, alice, bob


def test_names_show_line_user(room):
    """IRC NAMES lists the line user as the channel's operator."""
    lena, alice, bob = room
    assert alice.said("NAMES #lobby")[0] == ":chatservice 353 alice = #lobby :@lena alice bob"


def test_line_who_shows_irc_users(room):
    """The line user's /who lists the IRC users."""
    lena, alice, bob = room
    lena.line("/who")
    assert lena.take() == ["*** In #lobby (3): alice, bob, @lena"]


def test_irc_message_to_everyone(room):
    """An IRC user's channel message reaches the line user and the other IRC user in their formats."""
    lena, alice, bob = room
    alice.line("PRIVMSG #lobby :hello everyone")
    assert lena.take() == ["[#lobby] <alice> hello everyone"]
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :hello everyone"]


def test_line_message_to_irc(room):
    """A line user's message reaches IRC users as a PRIVMSG from nick!nick@host."""
    lena, alice, bob = room
    lena.line("hi from the terminal")
    assert alice.take() == [f":{LENA} PRIVMSG #lobby :hi from the terminal"]
    assert bob.take() == [f":{LENA} PRIVMSG #lobby :hi from the terminal"]


def test_irc_notice_to_line(room):
    """An IRC NOTICE is shown to the line user as a notice."""
    lena, alice, bob = room
    alice.line("NOTICE #lobby :heads up")
    assert lena.take() == ["[#lobby] -alice- heads up"]


def test_irc_action_to_line(room):
    """An IRC CTCP ACTION reaches the line user as an action."""
    lena, alice, bob = room
    alice.line("PRIVMSG #lobby :\x01ACTION waves\x01")
    assert lena.take() == ["[#lobby] * alice waves"]
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :\x01ACTION waves\x01"]


def test_line_action_to_irc(room):
    """A line user's /me reaches IRC users as a CTCP ACTION."""
    lena, alice, bob = room
    lena.line("/me dances")
    assert alice.take() == [f":{LENA} PRIVMSG #lobby :\x01ACTION dances\x01"]


def test_other_ctcp_hidden_from_line(room):
    """A CTCP request other than ACTION is not shown to line users."""
    lena, alice, bob = room
    alice.line("PRIVMSG #lobby :\x01VERSION\x01")
    assert lena.take() == []
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :\x01VERSION\x01"]


def test_private_messages_both_ways(room):
    """Private messages pass between IRC and line users."""
    lena, alice, bob = room
    alice.line("PRIVMSG lena :psst")
    assert lena.take() == ["[private] <alice> psst"]
    lena.line("/msg alice hush")
    assert lena.take() == ["[to alice] <lena> hush"]
    assert alice.take() == [f":{LENA} PRIVMSG alice :hush"]
    assert bob.take() == []


def test_line_away_shown_to_irc(room):
    """A line user who is away makes an IRC PRIVMSG get 301."""
    lena, alice, bob = room
    lena.line("/away out for lunch")
    assert alice.said("PRIVMSG lena :there?") == [":chatservice 301 alice lena :out for lunch"]


def test_line_away_notify(server):
    """IRC clients with away-notify see a line user go away."""
    lena = server.sign_in_line("lena")
    alice, = server.room("#lobby", "alice", caps=("away-notify",))
    lena.line("/away brb")
    assert alice.take() == [f":{LENA} AWAY brb"]


def test_formatting_codes(room):
    """IRC formatting codes reach IRC users but are stripped for line users."""
    lena, alice, bob = room
    alice.line("PRIVMSG #lobby :\x02bold\x02 \x0304,01red\x03 \x1funder\x0f")
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :\x02bold\x02 \x0304,01red\x03 \x1funder\x0f"]
    assert lena.take() == ["[#lobby] <alice> bold red under"]


def test_long_line_message_split(server):
    """A line user's message too long for one IRC line becomes several PRIVMSGs within 512 bytes that rejoin to it."""
    lena = server.sign_in_line("lena")
    alice, = server.room("#lobby", "alice")
    text = " ".join(f"w\u00f6rd{n}" for n in range(220))
    assert 1600 < len(text.encode("utf-8")) < 2048
    lena.line(text)
    lines = alice.take()  # take() checks that each line fits 512 bytes
    head = f":{LENA} PRIVMSG #lobby :"
    assert len(lines) == 4
    assert all(line.startswith(head) for line in lines)
    assert "".join(line[len(head):] for line in lines) == text


# Joins, parts, quits

def test_irc_join_to_line(room, server):
    """An IRC user's JOIN is shown to the line user."""
    lena, alice, bob = room
    carol = server.register("carol")
    carol.line("JOIN #lobby")
    assert lena.take() == ["*** carol joined #lobby"]


def test_line_join_to_irc(room, server):
    """A line user's join is shown to IRC users as a JOIN."""
    lena, alice, bob = room
    server.sign_in_line("mia")
    assert alice.take() == [":mia!mia@1.2.3.4 JOIN #lobby"]
    assert lena.take() == ["*** mia joined #lobby"]


def test_irc_part_to_line(room):
    """An IRC user's PART with a reason is shown to the line user."""
    lena, alice, bob = room
    alice.line("PART #lobby :later")
    assert lena.take() == ["*** alice left #lobby (later)"]


def test_line_part_to_irc(room):
    """A line user's /part is shown to IRC users as a PART."""
    lena, alice, bob = room
    lena.line("/part #lobby gotta go")
    assert alice.take() == [f":{LENA} PART #lobby :gotta go"]


def test_irc_quit_to_line(room):
    """An IRC user's QUIT is shown to the line user with its reason."""
    lena, alice, bob = room
    alice.line("QUIT :bye all")
    assert lena.take() == ["*** alice quit (Quit: bye all)"]
    assert bob.take() == [f":{ALICE} QUIT :Quit: bye all"]


def test_line_quit_to_irc(room):
    """A line user's /quit is shown to IRC users as a QUIT."""
    lena, alice, bob = room
    lena.line("/quit")
    assert alice.take() == [f":{LENA} QUIT Quit"]
    lena.lose(error.ConnectionDone())
    assert alice.take() == []


def test_line_connection_lost_to_irc(room):
    """A line user whose connection drops is shown to IRC users as a QUIT."""
    lena, alice, bob = room
    lena.lose()
    assert bob.take() == [f":{LENA} QUIT :Connection reset"]


# Nick changes and topics

def test_irc_nick_to_line(room):
    """An IRC nick change is shown to the line user."""
    lena, alice, bob = room
    alice.line("NICK alicia")
    assert lena.take() == ["*** alice is now known as alicia"]


def test_line_nick_to_irc(room):
    """A line user's nick change is shown to IRC users as a NICK."""
    lena, alice, bob = room
    lena.line("/nick helena")
    assert alice.take() == [f":{LENA} NICK helena"]
    alice.line("PRIVMSG helena :found you")
    assert lena.take() == ["*** You are now known as helena.", "[private] <alice> found you"]


def test_irc_topic_to_line(room, server):
    """An IRC topic change is shown to the line user, formatting stripped."""
    lena, alice, bob = room
    server.hub.change_modes(server.hub.find_user("lena"), "#lobby",
                            [ModeChange(False, RoomMode.TOPIC_LOCKED)])
    lena.take(), alice.take(), bob.take()
    alice.line("TOPIC #lobby :\x02new\x02 topic")
    assert lena.take() == ["*** alice set the topic of #lobby: new topic"]
    assert bob.take() == [f":{ALICE} TOPIC #lobby :\x02new\x02 topic"]
    lena.line("/topic")
    assert lena.take() == ["*** Topic of #lobby: new topic (set by alice)"]


def test_irc_topic_locked_for_irc_non_operator(room):
    """Under +t an IRC user who is not an operator cannot change a topic a line operator set."""
    lena, alice, bob = room
    lena.line("/topic ours")
    assert alice.take() == [f":{LENA} TOPIC #lobby ours"]
    assert alice.said("TOPIC #lobby :mine") == [
        ":chatservice 482 alice #lobby :You're not channel operator"]
    assert lena.take() == ["*** You set the topic of #lobby: ours"]


def test_line_operator_sets_locked_topic(room):
    """A line user who is the room's operator may set the topic under +t; IRC users see TOPIC."""
    lena, alice, bob = room
    assert alice.said("MODE #lobby")[0] == ":chatservice 324 alice #lobby +nt"
    lena.line("/topic Rules: be kind")
    assert lena.take() == ["*** You set the topic of #lobby: Rules: be kind"]
    assert alice.take() == [f":{LENA} TOPIC #lobby :Rules: be kind"]
    assert bob.said("TOPIC #lobby") == [
        ":chatservice 332 bob #lobby :Rules: be kind", ":chatservice 333 bob #lobby lena 0"]


def test_line_operator_kicks_irc_user(room):
    """A line user who is the room's operator can /kick an IRC user, who sees the KICK."""
    lena, alice, bob = room
    lena.line("/kick alice spamming")
    assert lena.take() == ["*** You kicked alice from #lobby."]
    assert alice.take() == [f":{LENA} KICK #lobby alice spamming"]
    assert bob.take() == [f":{LENA} KICK #lobby alice spamming"]
    assert alice.said("PRIVMSG #lobby :let me in") == [
        ":chatservice 404 alice #lobby :Cannot send to channel"]


def test_irc_operator_kicks_line_user(server):
    """An IRC channel operator can KICK a line user, who is told."""
    alice, = server.room("#ops", "alice")
    lena = server.sign_in_line("lena")
    lena.line("/join #ops")
    lena.take(), alice.take()
    alice.line("KICK #ops lena :out")
    assert lena.take() == ["*** alice kicked lena from #ops (out)"]


def test_irc_op_makes_line_user_operator(server):
    """An IRC operator can make a line user an operator, who can then /kick an IRC user."""
    alice, bob = server.room("#ops", "alice", "bob")
    lena = server.sign_in_line("lena")
    lena.line("/join #ops")
    lena.take(), alice.take(), bob.take()
    alice.line("MODE #ops +o lena")
    assert lena.take() == ["*** alice made lena an operator in #ops"]
    lena.line("/kick bob")
    assert bob.take() == [f":{ALICE} MODE #ops +o lena", f":{LENA} KICK #ops bob lena"]


def test_line_invite_to_irc(room, server):
    """A line user's /invite reaches an IRC user as an INVITE."""
    lena, alice, bob = room
    carol = server.register("carol")
    lena.line("/invite carol")
    assert carol.take() == [f":{LENA} INVITE carol #lobby"]


def test_irc_invite_to_line(room, server):
    """An IRC INVITE reaches a line user in words."""
    lena, alice, bob = room
    mia = server.sign_in_line("mia")
    mia.line("/part #lobby")
    mia.take()
    alice.line("INVITE mia #lobby")
    assert mia.take() == ["*** alice invites you to #lobby (/join #lobby)"]


def test_whois_line_user(room):
    """WHOIS on a line user shows its nick as user name and real name."""
    lena, alice, bob = room
    assert alice.said("WHOIS lena")[:2] == [
        ":chatservice 311 alice lena lena 1.2.3.4 * lena",
        ":chatservice 319 alice lena @#lobby",
    ]
