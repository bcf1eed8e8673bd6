"""
Behaviours the public IRC conformance suite (irctest) checks, each with a
test of our own: CI runs these without irctest.
"""

from __future__ import annotations

import pytest

from irc_helpers import MixedServer


@pytest.fixture
def server():
    return MixedServer()


def _numeric(lines: list[str], code: str) -> list[str]:
    return [line for line in lines if f" {code} " in line]


# LUSERS (irctest lusers.BasicLusersTestCase.testLusersFull)

def test_lusers_max_counts_the_peak_after_someone_leaves(server):
    """After a client quits, LUSERS still reports the most clients ever signed in as the max."""
    bar = server.register("bar")
    qux = server.register("qux")
    qux.line("QUIT")
    qux.lose()
    lines = bar.said("LUSERS")
    assert _numeric(lines, "265") == [
        ":chatservice 265 bar 1 2 :Current local users 1, max 2"]
    assert _numeric(lines, "266") == [
        ":chatservice 266 bar 1 2 :Current global users 1, max 2"]


# away-notify (irctest away_notify.AwayNotifyTestCase.testAwayNotifyOnJoin)

def test_away_notify_tells_members_when_someone_away_joins(server):
    """Members with away-notify get an AWAY line when someone already away joins."""
    foo = server.register("foo", caps=("away-notify",))
    plain = server.register("plain")
    server.joined("#chan", foo, plain)
    bar = server.register("bar")
    bar.line("AWAY :i'm already away")
    bar.take()
    bar.line("JOIN #chan")
    assert not [line for line in bar.take() if " AWAY " in line]
    assert foo.take() == [":bar!~bar@1.2.3.4 JOIN #chan",
                          ":bar!~bar@1.2.3.4 AWAY :i'm already away"]
    assert plain.take() == [":bar!~bar@1.2.3.4 JOIN #chan"]


# USER (irctest connection_registration.testEmptyRealname)

def test_user_with_empty_realname_needs_more_params(server):
    """USER with an empty real name is refused with 461 and does not register."""
    client = server.connect()
    client.line("NICK foo")
    assert client.said("USER username * * :") == [
        ":chatservice 461 foo USER :Not enough parameters"]
    assert client.said("USER username * * :Real Name")[0].startswith(":chatservice 001 foo ")


# INVITE with no parameters (irctest invite.InviteTestCase.testInviteList)

def test_invite_without_parameters_lists_invitations(server):
    """INVITE alone lists the channels the client is invited to (336), then 337."""
    foo = server.register("foo")
    bar = server.register("bar")
    foo.line("JOIN #chan")
    foo.line("JOIN #other")
    foo.line("INVITE bar #chan")
    bar.take()
    assert bar.said("INVITE") == [
        ":chatservice 336 bar #chan",
        ":chatservice 337 bar :End of /INVITE list",
    ]


def test_invite_list_forgets_a_joined_channel(server):
    """Once the invited client joins, the channel leaves its invite list."""
    foo = server.register("foo")
    bar = server.register("bar")
    foo.line("JOIN #chan")
    foo.line("MODE #chan +i")
    foo.line("INVITE bar #chan")
    bar.line("JOIN #chan")
    assert bar.said("INVITE") == [":chatservice 337 bar :End of /INVITE list"]


# KICK of several nicks (irctest kick.KickTestCase.testDoubleKickMessages)

def test_kick_pairs_channels_with_nicks(server):
    """KICK #chan,#chan bar,baz kicks each nick from its channel, one KICK line each."""
    foo, bar, baz, qux = server.room("#chan", "foo", "bar", "baz", "qux")
    foo.line("KICK #chan,#chan bar,baz :bye")
    assert qux.take() == [":foo!~foo@1.2.3.4 KICK #chan bar bye",
                          ":foo!~foo@1.2.3.4 KICK #chan baz bye"]


def test_kick_one_channel_several_nicks(server):
    """KICK #chan bar,baz kicks both nicks from the one channel."""
    foo, bar, baz, qux = server.room("#chan", "foo", "bar", "baz", "qux")
    foo.line("KICK #chan bar,baz :bye")
    assert qux.take() == [":foo!~foo@1.2.3.4 KICK #chan bar bye",
                          ":foo!~foo@1.2.3.4 KICK #chan baz bye"]


def test_kick_channels_and_nicks_must_pair(server):
    """Two channels and three nicks do not pair up: 461, and nobody is kicked."""
    foo, bar, baz, qux = server.room("#chan", "foo", "bar", "baz", "qux")
    assert foo.said("KICK #chan,#chan bar,baz,qux :bye") == [
        ":chatservice 461 foo KICK :Not enough parameters"]
    assert qux.take() == []


def test_kick_refused_once_per_channel(server):
    """A non-operator kicking two nicks gets one 482, not one per nick."""
    foo, bar, baz = server.room("#chan", "foo", "bar", "baz")
    assert bar.said("KICK #chan foo,baz") == [
        ":chatservice 482 bar #chan :You're not channel operator"]


# NAMES of several channels (irctest names.testNamesMultipleChannels2812)

def test_names_several_channels_one_end(server):
    """NAMES #a,#b lists each channel's names, then one 366 naming both."""
    nick1 = server.register("nick1")
    server.joined("#chan1", nick1)
    server.joined("#chan2", nick1)
    assert nick1.said("NAMES #chan1,#chan2,#none") == [
        ":chatservice 353 nick1 = #chan1 @nick1",
        ":chatservice 353 nick1 = #chan2 @nick1",
        ":chatservice 366 nick1 #chan1,#chan2,#none :End of /NAMES list",
    ]


# multi-prefix in WHO (irctest multi_prefix.MultiPrefixTestCase.testMultiPrefix)

def test_who_flags_show_every_prefix_with_multi_prefix(server):
    """With multi-prefix, WHO's flags for an operator with voice are @+; without, @."""
    foo = server.register("foo", caps=("multi-prefix",))
    bar = server.register("bar")
    server.joined("#chan", foo, bar)
    foo.line("MODE #chan +v foo")
    who = [line for line in foo.said("WHO #chan") if " 352 " in line]
    assert who[0] == ":chatservice 352 foo #chan ~foo 1.2.3.4 chatservice foo H@+ :0 Foo Person"
    who = [line for line in bar.said("WHO #chan") if " 352 " in line]
    assert who[0] == ":chatservice 352 bar #chan ~foo 1.2.3.4 chatservice foo H@ :0 Foo Person"


# Input buffering and relaying full lines (irctest buffering.BufferingTestCase.testNoTags)

EMOJI = "\U0001F603"


@pytest.mark.parametrize("colon", ["", ":"])
# Bytes short of a full 512-byte line; 23 is what the sender's mask adds.
@pytest.mark.parametrize("short", [494, 200, 24, 23, 22, 1, 0])
@pytest.mark.parametrize("emoji", [False, True])
def test_line_sent_byte_by_byte_relays_as_one_line(server, colon, short, emoji):
    """A line of up to 512 bytes arriving one byte at a time (splitting UTF-8) reaches the recipient as one PRIVMSG line, its text the payload or a prefix of it."""
    nick1 = server.register("nick1")
    nick2 = server.register("nick2")
    line = f"PRIVMSG nick2 {colon}"
    payload = "a" * (512 - len(line) - 2 - short)
    if emoji:
        payload = payload[:-len(EMOJI.encode())] + EMOJI
    data = (line + payload + "\r\n").encode()
    assert len(data) <= 512
    for byte in data:
        nick1.send(bytes([byte]))
    assert nick1.take() == []
    received = nick2.raw()
    lines = nick2.take()
    assert len(lines) == 1 and len(received) <= 512
    head = ":nick1!~nick1@1.2.3.4 PRIVMSG nick2 :"
    assert lines[0].startswith(head)
    text = lines[0][len(head):]
    assert text and payload.startswith(text)
    if len(head) + len(payload.encode()) + 2 <= 512:
        assert text == payload


# Client-only message tags and TAGMSG (irctest message_tags.MessageTagsTestCase)

def test_tagmsg_reaches_message_tags_clients_only(server):
    """TAGMSG +typing reaches channel members with message-tags (with a msgid), not the others, and echoes with echo-message."""
    alice, = server.room("#test", "alice", caps=("message-tags",))
    bob, = server.room("#test", "bob", caps=("message-tags", "echo-message"))
    carol, = server.room("#test", "carol", caps=("server-time",))
    lena = server.sign_in_line("lena")
    lena.line("/join #test")
    for client in (alice, bob, carol, lena):
        client.take()
    bob.line(r"@+typing=active;cat=dog;+draft/react=fizz\:buzz TAGMSG #test")
    relay, = alice.take()
    echo, = bob.take()
    assert relay == echo
    tags, _, rest = relay.partition(" ")
    assert rest == ":bob!~bob@1.2.3.4 TAGMSG #test"
    assert tags.startswith(r"@+typing=active;+draft/react=fizz\:buzz;msgid=")
    assert carol.take() == [] and lena.take() == []


def test_tagmsg_to_a_nick(server):
    """TAGMSG to a nick reaches that client if it has message-tags."""
    alice = server.register("alice", caps=("message-tags",))
    bob = server.register("bob", caps=("message-tags",))
    alice.line("@+typing=paused TAGMSG bob")
    assert alice.take() == []
    line, = bob.take()
    assert line.startswith("@+typing=paused;msgid=") and line.endswith(
        " :alice!~alice@1.2.3.4 TAGMSG bob")


def test_tagmsg_obeys_the_rules_for_speaking(server):
    """TAGMSG to a moderated channel by a member without voice is refused with 404 and relayed to nobody."""
    alice, bob = server.room("#test", "alice", "bob", caps=("message-tags",))
    alice.line("MODE #test +m")
    alice.take()
    assert bob.said("@+typing=active TAGMSG #test") == [
        ":chatservice 404 bob #test :Cannot send to channel"]
    assert alice.take() == []


def test_client_tags_on_privmsg_only_for_message_tags(server):
    """A +draft/reply tag on a private PRIVMSG is echoed to the sender and relayed only once the recipient has message-tags."""
    alice = server.register("alice", caps=("message-tags", "echo-message"))
    bob = server.register("bob")
    echo, = alice.said("@+draft/reply=123 PRIVMSG bob :hey yourself")
    assert echo.startswith("@+draft/reply=123;msgid=")
    assert bob.take() == [":alice!~alice@1.2.3.4 PRIVMSG bob :hey yourself"]
    bob.line("CAP REQ :message-tags")
    bob.take()
    alice.line("@+draft/reply=123 PRIVMSG bob :hey again")
    assert bob.take()[0].startswith("@+draft/reply=123;msgid=")


def test_client_tags_up_to_4096_bytes_relayed_intact(server):
    """Tags of exactly 4096 bytes (with @ and space) are relayed intact; one byte more gets 417 and nothing is relayed."""
    alice, = server.room("#test", "alice", caps=("message-tags", "echo-message"))
    bob, = server.room("#test", "bob", caps=("message-tags",))
    alice.take()
    longest = "@foo=bar;+baz=%s TAGMSG #test" % ("a" * 4081,)
    assert longest.index("TAGMSG") == 4096
    alice.line(longest)
    echo, = alice.take()
    assert echo == bob.take()[0]
    assert echo.startswith("@+baz=" + "a" * 4081 + ";msgid=")
    alice.line("@foo=bar;+baz=%s TAGMSG #test" % ("a" * 4082,))
    assert alice.take() == [":chatservice 417 alice :Input line was too long"]
    assert bob.take() == []
    alice.line("@foo=bar;+baz=%s PRIVMSG #test %s" % ("a" * 4081, "b" * 496))
    echo, = alice.take()
    assert echo == bob.take()[0]
    assert echo.startswith("@+baz=" + "a" * 4081 + ";msgid=")
    assert set(echo.rpartition(" :")[2]) == {"b"}


def test_history_keeps_messages_without_client_tags(server):
    """The hub hands out the tagged message but history records it without its tags."""
    recorded = []

    class Store:
        def record(self, room, event):
            recorded.append(event)

    alice, bob = server.room("#test", "alice", "bob", caps=("message-tags",))
    server.hub.store = Store()
    alice.line("@+draft/reply=1 PRIVMSG #test :hi")
    assert bob.take()[0].startswith("@+draft/reply=1;msgid=")
    assert [type(event).__name__ for event in recorded] == ["Message"]
