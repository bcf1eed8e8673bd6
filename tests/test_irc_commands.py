"""
Tests for the IRC commands of registered clients
(L{chatservice.frontends.irc.commands}), channel modes aside.
"""

from __future__ import annotations

import pytest
from twisted.internet import error

from chatservice.core import errors
from chatservice.core.operators import Operators
from chatservice.frontends.irc import IRCSettings
from irc_helpers import MixedServer, cheap_hash

ALICE = "alice!~alice@1.2.3.4"
BOB = "bob!~bob@1.2.3.4"
CAROL = "carol!~carol@1.2.3.4"


@pytest.fixture
def server():
    return MixedServer()


@pytest.fixture
def pair(server):
    """alice (the operator) and bob, IRC users in #lobby, with nothing unread."""
    return server.room("#lobby", "alice", "bob")


@pytest.fixture
def trio(server):
    """alice (the operator), bob and carol, IRC users in #lobby, with nothing unread."""
    return server.room("#lobby", "alice", "bob", "carol")


# JOIN

def test_join_creates_channel(server):
    """Joining a new channel echoes the JOIN and sends NAMES with the joiner as its operator."""
    alice = server.register("alice")
    assert alice.said("JOIN #new") == [
        f":{ALICE} JOIN #new",
        ":chatservice 353 alice = #new @alice",
        ":chatservice 366 alice #new :End of /NAMES list",
    ]


def test_join_seen_by_members(pair, server):
    """Members see a newcomer's JOIN; the newcomer gets NAMES listing everybody."""
    alice, bob = pair
    carol = server.register("carol")
    assert carol.said("JOIN #lobby") == [
        f":{CAROL} JOIN #lobby",
        ":chatservice 353 carol = #lobby :@alice bob carol",
        ":chatservice 366 carol #lobby :End of /NAMES list",
    ]
    assert alice.take() == [f":{CAROL} JOIN #lobby"]
    assert bob.take() == [f":{CAROL} JOIN #lobby"]


def test_join_shows_topic(server):
    """Joining a channel with a topic sends 332 and 333 before NAMES."""
    server.clock.advance(1000)
    alice, bob = server.room("#lobby", "alice", "bob")
    alice.line("TOPIC #lobby :Welcome all")
    carol = server.register("carol")
    assert carol.said("JOIN #lobby")[1:3] == [
        ":chatservice 332 carol #lobby :Welcome all",
        ":chatservice 333 carol #lobby alice 1000",
    ]


def test_join_several(server):
    """JOIN accepts a comma-separated list of channels and joins each in turn."""
    alice = server.register("alice")
    lines = alice.said("JOIN #a,#b")
    assert lines == [
        f":{ALICE} JOIN #a", ":chatservice 353 alice = #a @alice",
        ":chatservice 366 alice #a :End of /NAMES list",
        f":{ALICE} JOIN #b", ":chatservice 353 alice = #b @alice",
        ":chatservice 366 alice #b :End of /NAMES list",
    ]


def test_join_keys(pair, server):
    """Keys are matched to channels by position, and a channel without its key gets 475."""
    alice, bob = pair
    alice.line("JOIN #k1,#k2")
    alice.line("MODE #k1 +k one")
    alice.line("MODE #k2 +k two")
    carol = server.register("carol")
    lines = carol.said("JOIN #k1,#k2,#lobby one")
    assert lines[0] == f":{CAROL} JOIN #k1"
    assert ":chatservice 475 carol #k2 :Cannot join channel (+k)" in lines
    assert f":{CAROL} JOIN #lobby" in lines
    assert set(server.hub.find_user("carol").rooms) == {"#k1", "#lobby"}


def test_join_already_member(pair):
    """Joining a channel one is already in does nothing."""
    alice, bob = pair
    assert alice.said("JOIN #lobby") == []
    assert bob.take() == []


@pytest.mark.parametrize("name", ["lobby", "#a:b", "#" + "x" * 50, "#bell\x07"])
def test_join_invalid_name(server, name):
    """An invalid channel name gets 403."""
    alice = server.register("alice")
    shown = name.replace("\x07", "")
    lines = alice.said(f"JOIN {name}")
    if shown != name:
        # The control character is removed on input, leaving a valid name.
        assert lines[0] == f":{ALICE} JOIN #bell"
        return
    assert lines == [f":chatservice 403 alice {name} :No such channel"]


def test_join_zero(server):
    """JOIN 0 parts every channel, each PART echoed and seen by its members."""
    alice, bob = server.room("#a", "alice", "bob")
    alice.line("JOIN #b")
    assert alice.said("JOIN 0") == [f":{ALICE} PART #a", f":{ALICE} PART #b"]
    assert bob.take() == [f":{ALICE} PART #a"]
    assert server.hub.find_user("alice").rooms == {}


def test_join_invite_only(pair, server):
    """An invite-only channel refuses a newcomer with 473."""
    alice, bob = pair
    alice.line("MODE #lobby +i")
    carol = server.register("carol")
    assert carol.said("JOIN #lobby") == [
        ":chatservice 473 carol #lobby :Cannot join channel (+i)"]


def test_join_full(pair, server):
    """A full channel refuses a newcomer with 471."""
    alice, bob = pair
    alice.line("MODE #lobby +l 2")
    carol = server.register("carol")
    assert carol.said("JOIN #lobby") == [
        ":chatservice 471 carol #lobby :Cannot join channel (+l)"]


def test_join_banned(pair, server):
    """A banned newcomer is refused with 474."""
    alice, bob = pair
    alice.line("MODE #lobby +b carol")
    carol = server.register("carol")
    assert carol.said("JOIN #lobby") == [
        ":chatservice 474 carol #lobby :Cannot join channel (+b)"]


def test_join_needs_param(server):
    """JOIN without a channel gets 461."""
    alice = server.register("alice")
    assert alice.said("JOIN") == [":chatservice 461 alice JOIN :Not enough parameters"]


# PART

def test_part(trio):
    """PART is echoed and seen by the other members, without a reason."""
    alice, bob, carol = trio
    assert bob.said("PART #lobby") == [f":{BOB} PART #lobby"]
    assert alice.take() == [f":{BOB} PART #lobby"]
    assert carol.take() == [f":{BOB} PART #lobby"]


def test_part_reason(pair):
    """A PART reason is shown to everybody."""
    alice, bob = pair
    assert bob.said("PART #lobby :see you later") == [f":{BOB} PART #lobby :see you later"]
    assert alice.take() == [f":{BOB} PART #lobby :see you later"]


def test_part_errors(pair):
    """PART of a channel one is not in gets 442; of a channel that does not exist, 403."""
    alice, bob = pair
    alice.line("JOIN #other")
    assert bob.said("PART #other,#nowhere") == [
        ":chatservice 442 bob #other :You're not on that channel",
        ":chatservice 403 bob #nowhere :No such channel",
    ]


def test_part_last_member_removes_channel(server):
    """A channel is gone once its last member parts."""
    alice = server.register("alice")
    alice.line("JOIN #solo")
    alice.line("PART #solo")
    with pytest.raises(errors.NoSuchRoom):
        server.hub.find_room("#solo")


# PRIVMSG and NOTICE

def test_privmsg_channel(trio):
    """A channel message reaches every other member and is not echoed by default."""
    alice, bob, carol = trio
    assert alice.said("PRIVMSG #lobby :hello there") == []
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :hello there"]
    assert carol.take() == [f":{ALICE} PRIVMSG #lobby :hello there"]


def test_privmsg_nick(trio):
    """A private message reaches only its target."""
    alice, bob, carol = trio
    assert alice.said("PRIVMSG BOB :psst") == []
    assert bob.take() == [f":{ALICE} PRIVMSG bob :psst"]
    assert carol.take() == []


def test_privmsg_several_targets(trio, server):
    """PRIVMSG to several targets delivers to each; a missing one gets 401 without stopping the others."""
    alice, bob, carol = trio
    dave = server.register("dave")
    assert dave.said("PRIVMSG carol,ghost,alice :hi") == [
        ":chatservice 401 dave ghost :No such nick/channel"]
    assert carol.take() == [":dave!~dave@1.2.3.4 PRIVMSG carol :hi"]
    assert alice.take() == [":dave!~dave@1.2.3.4 PRIVMSG alice :hi"]
    assert bob.take() == []


def test_privmsg_too_many_targets(trio):
    """PRIVMSG to more targets than TARGMAX allows reaches the first four and gets one 407."""
    alice, bob, carol = trio
    assert alice.said("PRIVMSG bob,bob,carol,bob,bob,carol,bob :spam") == [
        ":chatservice 407 alice bob :Too many recipients; only the first 4 were sent to"]
    assert bob.take() == [f":{ALICE} PRIVMSG bob :spam"] * 3
    assert carol.take() == [f":{ALICE} PRIVMSG carol :spam"]


def test_notice_too_many_targets_silent(trio):
    """NOTICE to too many targets reaches the first four without an error reply."""
    alice, bob, carol = trio
    assert alice.said("NOTICE bob,carol,bob,carol,bob :n") == []
    assert len(bob.take()) == 2 and len(carol.take()) == 2


def test_privmsg_no_such_channel(pair):
    """A message to a channel that does not exist gets 403."""
    alice, bob = pair
    assert alice.said("PRIVMSG #nowhere :hi") == [
        ":chatservice 403 alice #nowhere :No such channel"]


def test_privmsg_outside_no_outside_channel(pair, server):
    """A non-member messaging a +n channel gets 404."""
    alice, bob = pair
    carol = server.register("carol")
    assert carol.said("PRIVMSG #lobby :hi") == [
        ":chatservice 404 carol #lobby :Cannot send to channel"]
    assert alice.take() == []


def test_privmsg_outside_open_channel(pair, server):
    """Without +n a non-member may message the channel."""
    alice, bob = pair
    alice.line("MODE #lobby -n")
    bob.take()
    carol = server.register("carol")
    assert carol.said("PRIVMSG #lobby :from outside") == []
    assert bob.take() == [f":{CAROL} PRIVMSG #lobby :from outside"]


def test_privmsg_moderated(trio):
    """In a +m channel an unvoiced member gets 404; voiced members and operators speak."""
    alice, bob, carol = trio
    alice.line("MODE #lobby +mv carol")
    bob.take(), carol.take()
    assert bob.said("PRIVMSG #lobby :can I?") == [
        ":chatservice 404 bob #lobby :Cannot send to channel"]
    carol.line("PRIVMSG #lobby :I can")
    alice.line("PRIVMSG #lobby :me too")
    assert bob.take() == [f":{CAROL} PRIVMSG #lobby :I can", f":{ALICE} PRIVMSG #lobby :me too"]


def test_privmsg_banned_member(trio):
    """A banned member cannot speak in the channel."""
    alice, bob, carol = trio
    alice.line("MODE #lobby +b bob!*@*")
    assert bob.said("PRIVMSG #lobby :hi") == [
        ":chatservice 404 bob #lobby :Cannot send to channel"]


def test_privmsg_411_412(pair):
    """PRIVMSG without a target gets 411; without text, 412."""
    alice, bob = pair
    assert alice.said("PRIVMSG") == [":chatservice 411 alice :No recipient given (PRIVMSG)"]
    assert alice.said("PRIVMSG bob") == [":chatservice 412 alice :No text to send"]
    assert alice.said("PRIVMSG bob :") == [":chatservice 412 alice :No text to send"]
    assert bob.take() == []


def test_privmsg_only_spaces(pair):
    """A message of only spaces is no text: 412."""
    alice, bob = pair
    assert alice.said("PRIVMSG #lobby :   ") == [":chatservice 412 alice :No text to send"]
    assert bob.take() == []


def test_notice(pair):
    """A NOTICE is delivered as a NOTICE."""
    alice, bob = pair
    alice.line("NOTICE #lobby :heads up")
    alice.line("NOTICE bob :psst")
    assert bob.take() == [f":{ALICE} NOTICE #lobby :heads up", f":{ALICE} NOTICE bob :psst"]


@pytest.mark.parametrize("command", ["NOTICE", "NOTICE ghost", "NOTICE ghost :hi",
                                     "NOTICE #nowhere :hi", "NOTICE bob :", "NOTICE #lobby :"])
def test_notice_never_gets_errors(pair, server, command):
    """A NOTICE never gets an error reply."""
    alice, bob = pair
    alice.line("MODE #lobby +m")
    bob.take()
    assert server.register("carol").said(command) == []


def test_notice_to_moderated_no_error(pair):
    """A NOTICE refused by +m is dropped silently."""
    alice, bob = pair
    alice.line("MODE #lobby +m")
    alice.take()
    assert bob.said("NOTICE #lobby :hi") == []
    assert alice.take() == []


def test_ctcp_action(pair):
    """A CTCP ACTION reaches IRC clients as a CTCP ACTION."""
    alice, bob = pair
    alice.line("PRIVMSG #lobby :\x01ACTION waves\x01")
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :\x01ACTION waves\x01"]


def test_ctcp_action_without_closing_delimiter(pair):
    """A CTCP ACTION without its closing ^A is still an action."""
    alice, bob = pair
    alice.line("PRIVMSG #lobby :\x01ACTION waves")
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :\x01ACTION waves\x01"]


def test_other_ctcp_passes_between_irc_clients(pair):
    """Other CTCP requests pass between IRC clients unchanged."""
    alice, bob = pair
    alice.line("PRIVMSG bob :\x01VERSION\x01")
    assert bob.take() == [f":{ALICE} PRIVMSG bob :\x01VERSION\x01"]


def test_echo_message(server):
    """With echo-message, the sender gets its own channel and private messages back."""
    alice, bob = server.room("#lobby", "alice", "bob")
    alice.line("CAP REQ echo-message")
    alice.take()
    assert alice.said("PRIVMSG #lobby,bob :hi") == [
        f":{ALICE} PRIVMSG #lobby :hi", f":{ALICE} PRIVMSG bob :hi"]
    assert alice.said("NOTICE bob :n") == [f":{ALICE} NOTICE bob :n"]


def test_echo_message_not_for_refused(server):
    """A refused message is not echoed, even with echo-message."""
    alice, bob = server.room("#lobby", "alice", "bob", caps=("echo-message",))
    alice.line("MODE #lobby +m")
    bob.take()
    assert bob.said("PRIVMSG #lobby :hi") == [
        ":chatservice 404 bob #lobby :Cannot send to channel"]


def test_message_to_self_with_echo(server):
    """
    With echo-message, a private message to oneself comes twice: delivered,
    and echoed as the confirmation (which alone carries a labeled-response
    label), as ergo does.
    """
    alice = server.register("alice", caps=("echo-message",))
    assert alice.said("PRIVMSG alice :note") == [f":{ALICE} PRIVMSG alice :note"] * 2


def test_away_reply_to_privmsg(pair):
    """A PRIVMSG to an away user gets 301 with the away message; a NOTICE does not."""
    alice, bob = pair
    bob.line("AWAY :gone fishing")
    bob.take()
    assert alice.said("PRIVMSG bob :are you there?") == [
        ":chatservice 301 alice bob :gone fishing"]
    assert alice.said("NOTICE bob :fyi") == []
    assert bob.take() == [f":{ALICE} PRIVMSG bob :are you there?", f":{ALICE} NOTICE bob :fyi"]


def test_full_line_message_cut_not_split(pair):
    """A message that filled the sender's 512-byte line arrives as one line, cut to 512 bytes with the sender's mask."""
    alice, bob = pair
    text = "x" * (510 - len("PRIVMSG #lobby :"))
    alice.line(f"PRIVMSG #lobby :{text}")
    lines = bob.take()
    head = f":{ALICE} PRIVMSG #lobby :"
    assert lines == [head + "x" * (510 - len(head))]


def test_tagmsg_accepted(pair):
    """TAGMSG is accepted and reaches no client without message-tags."""
    alice, bob = pair
    assert alice.said("@+typing=active TAGMSG #lobby") == []
    assert bob.take() == []


# NICK

def test_nick_change(trio, server):
    """A nick change is echoed to the client and seen once by everyone sharing a channel."""
    alice, bob, carol = trio
    bob.line("JOIN #other")
    alice.line("JOIN #other")
    alice.take()
    dave = server.register("dave")
    assert bob.said("NICK robert") == [f":{BOB} NICK robert"]
    assert alice.take() == [f":{BOB} NICK robert"]
    assert carol.take() == [f":{BOB} NICK robert"]
    assert dave.take() == []
    bob.nick = "robert"
    alice.line("PRIVMSG robert :hi")
    assert bob.take() == [f":{ALICE} PRIVMSG robert :hi"]


def test_nick_change_without_channels(server):
    """A nick change of a client in no channel is still echoed."""
    alice = server.register("alice")
    assert alice.said("NICK alicia") == [f":{ALICE} NICK alicia"]
    assert alice.said("WHOIS alicia")[0] == (
        ":chatservice 311 alicia alicia ~alice 1.2.3.4 * :Alice Person")


def test_nick_change_errors(pair, server):
    """After registration NICK gets 431, 432 or 433 as appropriate and the nick stays."""
    alice, bob = pair
    server.sign_in_line("carol")
    bob.take()
    assert alice.said("NICK") == [":chatservice 431 alice :No nickname given"]
    assert alice.said("NICK 1abc") == [":chatservice 432 alice 1abc :Erroneous nickname"]
    assert alice.said("NICK BOB") == [":chatservice 433 alice BOB :Nickname is already in use"]
    assert alice.said("NICK Carol") == [":chatservice 433 alice Carol :Nickname is already in use"]
    assert bob.take() == []
    assert server.hub.find_user("alice").client is alice.protocol


def test_nick_case_only_change(pair):
    """Changing only the case of one's nick is allowed and shown."""
    alice, bob = pair
    assert alice.said("NICK Alice") == [f":{ALICE} NICK Alice"]
    assert bob.take() == [f":{ALICE} NICK Alice"]
    assert alice.said("NICK Alice") == []


def test_nick_frees_old(pair, server):
    """The old nick is free for somebody else at once."""
    alice, bob = pair
    alice.line("NICK alicia")
    assert server.register("alice").nick == "alice"


def test_numerics_follow_new_nick(server):
    """Numerics after a nick change are addressed to the new nick."""
    alice = server.register("alice")
    alice.line("NICK alicia")
    assert alice.said("PING x") == [":chatservice PONG chatservice x"]
    assert alice.said("MOTD") == [":chatservice 422 alicia :MOTD File is missing"]


# TOPIC

def test_topic_query_none(pair):
    """TOPIC on a channel without a topic gets 331."""
    alice, bob = pair
    assert bob.said("TOPIC #lobby") == [":chatservice 331 bob #lobby :No topic is set"]


def test_topic_set_and_query(server):
    """Setting the topic is echoed and seen by members; a query then gets 332 and 333."""
    server.clock.advance(1234.5)
    alice, bob = server.room("#lobby", "alice", "bob")
    assert alice.said("TOPIC #lobby :All about #lobby") == [
        f":{ALICE} TOPIC #lobby :All about #lobby"]
    assert bob.take() == [f":{ALICE} TOPIC #lobby :All about #lobby"]
    assert bob.said("TOPIC #lobby") == [
        ":chatservice 332 bob #lobby :All about #lobby",
        ":chatservice 333 bob #lobby alice 1234",
    ]


def test_topic_clear(pair):
    """An empty TOPIC clears the topic."""
    alice, bob = pair
    alice.line("TOPIC #lobby :something")
    alice.line("TOPIC #lobby :")
    bob.take()
    assert bob.said("TOPIC #lobby") == [":chatservice 331 bob #lobby :No topic is set"]


def test_topic_locked(pair):
    """Under +t a non-operator gets 482; after -t anyone may set it."""
    alice, bob = pair
    assert bob.said("TOPIC #lobby :mine") == [
        ":chatservice 482 bob #lobby :You're not channel operator"]
    alice.line("MODE #lobby -t")
    assert bob.said("TOPIC #lobby :mine") == [f":{BOB} TOPIC #lobby mine"]
    assert alice.take()[-1] == f":{BOB} TOPIC #lobby mine"


def test_topic_not_member(pair, server):
    """Setting the topic of a channel one is not in gets 442; of none, 403."""
    alice, bob = pair
    carol = server.register("carol")
    assert carol.said("TOPIC #lobby :x") == [
        ":chatservice 442 carol #lobby :You're not on that channel"]
    assert carol.said("TOPIC #nowhere :x") == [":chatservice 403 carol #nowhere :No such channel"]
    assert carol.said("TOPIC #nowhere") == [":chatservice 403 carol #nowhere :No such channel"]


def test_topic_of_secret_channel_hidden(pair, server):
    """A non-member cannot read the topic of a secret channel."""
    alice, bob = pair
    alice.line("TOPIC #lobby :hidden")
    alice.line("MODE #lobby +s")
    carol = server.register("carol")
    assert carol.said("TOPIC #lobby") == [
        ":chatservice 442 carol #lobby :You're not on that channel"]


# NAMES

def test_names(trio):
    """NAMES lists members in joining order with @ for operators and + for voiced members."""
    alice, bob, carol = trio
    alice.line("MODE #lobby +v bob")
    assert carol.said("NAMES #lobby") == [
        ":chatservice 353 carol = #lobby :@alice +bob carol",
        ":chatservice 366 carol #lobby :End of /NAMES list",
    ]


def test_names_multi_prefix(server):
    """With multi-prefix an operator who is also voiced is shown @+; without it, @."""
    alice, bob = server.room("#lobby", "alice", "bob")
    carol = server.register("carol", caps=("multi-prefix",))
    alice.line("MODE #lobby +v alice")
    assert carol.said("NAMES #lobby")[0] == ":chatservice 353 carol = #lobby :@+alice bob"
    assert bob.said("NAMES #lobby")[0] == ":chatservice 353 bob = #lobby :@alice bob"


def test_names_userhost_in_names(server):
    """With userhost-in-names NAMES shows nick!user@host."""
    alice, bob = server.room("#lobby", "alice", "bob")
    carol = server.register("carol", caps=("userhost-in-names",))
    assert carol.said("NAMES #lobby")[0] == f":chatservice 353 carol = #lobby :@{ALICE} {BOB}"


def test_names_secret(pair, server):
    """A secret channel is marked @ for members and its names are hidden from others."""
    alice, bob = pair
    alice.line("MODE #lobby +s")
    assert bob.said("NAMES #lobby")[0] == ":chatservice 353 bob @ #lobby :@alice bob"
    carol = server.register("carol")
    assert carol.said("NAMES #lobby") == [":chatservice 366 carol #lobby :End of /NAMES list"]


def test_names_without_param_and_unknown(server):
    """NAMES without a channel, or of one that does not exist, gets only 366."""
    alice = server.register("alice")
    assert alice.said("NAMES") == [":chatservice 366 alice * :End of /NAMES list"]
    assert alice.said("NAMES #nowhere") == [":chatservice 366 alice #nowhere :End of /NAMES list"]


def test_names_split_into_lines(server):
    """A long member list is split into several 353 lines of at most 512 bytes."""
    nicks = [f"user{n:02d}" + "x" * 24 for n in range(30)]
    clients = [server.register(nick, host=f"10.0.0.{n}") for n, nick in enumerate(nicks)]
    server.joined("#big", *clients)
    lines = clients[0].said("NAMES #big")
    assert len(lines) > 2
    assert lines[-1] == f":chatservice 366 {nicks[0]} #big :End of /NAMES list"
    listed = " ".join(line.split(" :", 1)[1] for line in lines[:-1]).split()
    assert listed == ["@" + nicks[0]] + nicks[1:]


def test_names_split_non_ascii_channel(server):
    """353 lines stay within 512 bytes even for a channel name of multi-byte characters."""
    channel = "#" + "\u20ac" * 49
    nicks = [f"u{n:02d}" + "y" * 29 for n in range(20)]
    clients = [server.register(nick, host=f"10.0.1.{n}") for n, nick in enumerate(nicks)]
    server.joined(channel, *clients)
    lines = clients[0].said(f"NAMES {channel}")  # take() checks each line's length
    listed = " ".join(line.split(" :", 1)[1] for line in lines[:-1]).split()
    assert listed == ["@" + nicks[0]] + nicks[1:]


# LIST

def test_list(pair, server):
    """LIST shows each visible channel with its member count and topic, sorted."""
    alice, bob = pair
    alice.line("TOPIC #lobby :chat here")
    bob.line("JOIN #b")
    carol = server.register("carol")
    assert carol.said("LIST") == [
        ":chatservice 321 carol Channel :Users  Name",
        ":chatservice 322 carol #b 1 :",
        ":chatservice 322 carol #lobby 2 :chat here",
        ":chatservice 323 carol :End of /LIST",
    ]


def test_list_hides_secret(pair, server):
    """LIST hides secret channels from non-members but shows them to members."""
    alice, bob = pair
    alice.line("MODE #lobby +s")
    carol = server.register("carol")
    assert carol.said("LIST") == [
        ":chatservice 321 carol Channel :Users  Name", ":chatservice 323 carol :End of /LIST"]
    assert bob.said("LIST")[1] == ":chatservice 322 bob #lobby 2 :"


def test_list_named(pair):
    """LIST with channel names shows only those, compared case-insensitively."""
    alice, bob = pair
    alice.line("JOIN #other")
    assert alice.said("LIST #LOBBY")[1:] == [
        ":chatservice 322 alice #lobby 2 :", ":chatservice 323 alice :End of /LIST"]


# WHO

def test_who_channel(trio):
    """WHO #channel lists members with H/G and @/+ flags."""
    alice, bob, carol = trio
    alice.line("MODE #lobby +v carol")
    bob.line("AWAY :out")
    assert bob.said("WHO #lobby") == [
        ":chatservice 352 bob #lobby ~alice 1.2.3.4 chatservice alice H@ :0 Alice Person",
        ":chatservice 352 bob #lobby ~bob 1.2.3.4 chatservice bob G :0 Bob Person",
        ":chatservice 352 bob #lobby ~carol 1.2.3.4 chatservice carol H+ :0 Carol Person",
        ":chatservice 315 bob #lobby :End of /WHO list",
    ]


def test_who_nick(pair):
    """WHO nick shows that user with * as channel."""
    alice, bob = pair
    assert alice.said("WHO BOB") == [
        ":chatservice 352 alice * ~bob 1.2.3.4 chatservice bob H :0 Bob Person",
        ":chatservice 315 alice BOB :End of /WHO list",
    ]


def test_who_mask_hides_invisible_strangers(pair, server):
    """A WHO mask does not reveal invisible users who share no channel, but an exact nick does."""
    alice, bob = pair
    dave = server.register("dave")
    dave.line("MODE dave +i")
    carol = server.register("carol")
    assert [line.split()[7] for line in carol.said("WHO *")[:-1]] == ["alice", "bob", "carol"]
    assert carol.said("WHO dave")[0] == (
        ":chatservice 352 carol * ~dave 1.2.3.4 chatservice dave H :0 Dave Person")


def test_who_secret_channel(pair, server):
    """WHO on a secret channel lists nothing to non-members."""
    alice, bob = pair
    alice.line("MODE #lobby +s")
    assert server.register("carol").said("WHO #lobby") == [
        ":chatservice 315 carol #lobby :End of /WHO list"]


def test_who_oper_flag(pair, server):
    """A server operator has * after H/G in WHO."""
    alice, bob = pair
    server.hub.find_user("alice").is_operator = True
    assert bob.said("WHO alice")[0].split()[8] == "H*"


# WHOIS and WHOWAS

def test_whois(trio, server):
    """WHOIS gives 311, 319, 312, 313, 301, 317 and 318."""
    alice, bob, carol = trio
    alice.line("JOIN #second")
    alice.line("MODE #lobby +v alice")
    server.hub.find_user("alice").is_operator = True
    alice.line("AWAY :lunch")
    server.clock.advance(100)
    alice.line("PRIVMSG #lobby :hi")
    server.clock.advance(42)
    assert bob.said("WHOIS alice") == [
        ":chatservice 311 bob alice ~alice 1.2.3.4 * :Alice Person",
        ":chatservice 319 bob alice :@#lobby @#second",
        ":chatservice 312 bob alice chatservice :A chatservice server",
        ":chatservice 313 bob alice :is an IRC operator",
        ":chatservice 301 bob alice lunch",
        ":chatservice 317 bob alice 42 0 :seconds idle, signon time",
        ":chatservice 318 bob alice :End of /WHOIS list",
    ]


def test_whois_server_description():
    """312 shows IRCSettings.description."""
    server = MixedServer(settings=IRCSettings(description="My little server"))
    alice = server.register("alice")
    assert ":chatservice 312 alice alice chatservice :My little server" in alice.said(
        "WHOIS alice")


def test_whois_voice_prefix_and_secret_hidden(trio, server):
    """319 shows + for voiced channels and hides secret channels from non-members."""
    alice, bob, carol = trio
    alice.line("MODE #lobby +v bob")
    bob.line("JOIN #hide")
    bob.line("MODE #hide +s")
    assert carol.said("WHOIS bob")[1] == ":chatservice 319 carol bob +#lobby"


def test_whois_no_such_nick(server):
    """WHOIS of nobody gets 401 and 318."""
    alice = server.register("alice")
    assert alice.said("WHOIS ghost") == [
        ":chatservice 401 alice ghost :No such nick/channel",
        ":chatservice 318 alice ghost :End of /WHOIS list",
    ]


def test_whois_with_server_param(pair):
    """WHOIS server nick looks up the last parameter."""
    alice, bob = pair
    assert alice.said("WHOIS chatservice bob")[0] == (
        ":chatservice 311 alice bob ~bob 1.2.3.4 * :Bob Person")


def test_whowas(pair, server):
    """WHOWAS shows who had a nick, most recent first, with 314, 312 and 369."""
    alice, bob = pair
    server.clock.advance(86400)
    bob.line("NICK robert")
    bob.nick = "robert"
    bob.line("QUIT")
    assert alice.said("WHOWAS bob") == [
        ":chatservice 314 alice bob ~bob 1.2.3.4 * :Bob Person",
        ":chatservice 312 alice bob chatservice :Fri Jan 02 00:00:00 1970",
        ":chatservice 369 alice bob :End of WHOWAS",
    ]
    assert alice.said("WHOWAS robert 1")[0] == (
        ":chatservice 314 alice robert ~bob 1.2.3.4 * :Bob Person")


def test_whowas_count(server):
    """WHOWAS with a count shows at most that many entries."""
    alice = server.register("alice")
    for _ in range(3):
        server.register("bob").line("QUIT")
    assert len(alice.said("WHOWAS bob")) == 7
    assert len(alice.said("WHOWAS bob 2")) == 5
    assert len(alice.said("WHOWAS bob \u00b2")) == 7


def test_whowas_unknown(server):
    """WHOWAS of a nick never used gets 406 and 369."""
    alice = server.register("alice")
    assert alice.said("WHOWAS nobody") == [
        ":chatservice 406 alice nobody :There was no such nickname",
        ":chatservice 369 alice nobody :End of WHOWAS",
    ]


# ISON, USERHOST, AWAY

def test_ison(pair, server):
    """ISON answers with the nicks that are online, as they are spelled now."""
    alice, bob = pair
    server.sign_in_line("Carol")
    assert alice.said("ISON BOB ghost carol") == [":chatservice 303 alice :bob Carol"]
    assert alice.said("ISON :ghost") == [":chatservice 303 alice :"]


def test_userhost(pair, server):
    """USERHOST gives nick=+user@host, * for operators and - for away users."""
    alice, bob = pair
    bob.line("AWAY :zzz")
    server.hub.find_user("alice").is_operator = True
    assert alice.said("USERHOST alice bob ghost") == [
        ":chatservice 302 alice :alice*=+~alice@1.2.3.4 bob=-~bob@1.2.3.4"]


def test_away(pair):
    """AWAY with a message gets 306; AWAY without one gets 305."""
    alice, bob = pair
    assert alice.said("AWAY :be right back") == [
        ":chatservice 306 alice :You have been marked as being away"]
    assert alice.said("AWAY") == [":chatservice 305 alice :You are no longer marked as being away"]
    assert bob.take() == []


def test_away_notify(server):
    """Neighbours with away-notify see AWAY changes; those without do not."""
    alice, bob = server.room("#lobby", "alice", "bob")
    carol, = server.room("#lobby", "carol", caps=("away-notify",))
    alice.take(), bob.take()
    alice.line("AWAY :lunch")
    alice.line("AWAY")
    assert carol.take() == [f":{ALICE} AWAY lunch", f":{ALICE} AWAY"]
    assert bob.take() == []


# PING, PONG, server information

def test_ping_pong(server):
    """PING is answered with PONG; PING without a token gets 409; PONG gets no answer."""
    alice = server.register("alice")
    assert alice.said("PING :a token") == [":chatservice PONG chatservice :a token"]
    assert alice.said("PING") == [":chatservice 409 alice :No origin specified"]
    assert alice.said("PONG chatservice") == []


def test_motd():
    """MOTD sends the message of the day again."""
    server = MixedServer(settings=IRCSettings(motd=("hi",)))
    alice = server.register("alice")
    assert alice.said("MOTD") == [
        ":chatservice 375 alice :- chatservice Message of the day - ",
        ":chatservice 372 alice :- hi",
        ":chatservice 376 alice :End of /MOTD command.",
    ]


def test_motd_missing(server):
    """MOTD without one configured gets 422."""
    assert server.register("alice").said("MOTD") == [
        ":chatservice 422 alice :MOTD File is missing"]


def test_lusers(pair, server):
    """LUSERS counts users, invisible users, operators and channels."""
    alice, bob = pair
    server.hub.operators.add("root", cheap_hash("pw"))
    bob.line("OPER root pw")
    bob.line("MODE bob +i")
    assert alice.said("LUSERS") == [
        ":chatservice 251 alice :There are 1 users and 1 invisible on 1 servers",
        ":chatservice 252 alice 1 :operator(s) online",
        ":chatservice 254 alice 1 :channels formed",
        ":chatservice 255 alice :I have 2 clients and 0 servers",
        ":chatservice 265 alice 2 2 :Current local users 2, max 2",
        ":chatservice 266 alice 2 2 :Current global users 2, max 2",
    ]
    bob.line("QUIT")
    assert alice.said("LUSERS")[:2] == [
        ":chatservice 251 alice :There are 1 users and 0 invisible on 1 servers",
        ":chatservice 252 alice 0 :operator(s) online",
    ]


def test_version(server):
    """VERSION gets 351 followed by 005."""
    lines = server.register("alice").said("VERSION")
    assert lines[0] == (
        ":chatservice 351 alice chatservice-0.1.0 chatservice :A multi-protocol chat server")
    assert [line.split()[1] for line in lines[1:]] == ["005", "005"]
    assert "CASEMAPPING=rfc1459" in lines[1]


def test_isupport_tokens(server):
    """005 advertises the tokens clients rely on."""
    client = server.connect()
    client.line("NICK alice")
    client.line("USER alice 0 * :A")
    tokens = set()
    for line in client.take():
        if line.split()[1] == "005":
            tokens.update(line.split(" :")[0].split()[3:])
    for token in ["CASEMAPPING=rfc1459", "CHANTYPES=#", "NICKLEN=32", "CHANNELLEN=50",
                  "TOPICLEN=390", "PREFIX=(ov)@+", "CHANMODES=Ibe,k,l,Cimnst",
                  "NETWORK=chatservice"]:
        assert token in tokens


def test_time(server):
    """TIME gets 391 with the clock's time in UTC."""
    server.clock.advance(1700000000)
    assert server.register("alice").said("TIME") == [
        ":chatservice 391 alice chatservice :Tuesday November 14 2023 -- 22:13:20 +00:00"]


def test_info(server):
    """INFO gets 371 lines and 374."""
    lines = server.register("alice").said("INFO")
    assert [line.split()[1] for line in lines] == ["371", "371", "374"]
    assert lines[-1] == ":chatservice 374 alice :End of /INFO list"


def test_help(server):
    """HELP lists the commands with 704, 705 and 706."""
    lines = server.register("alice").said("HELP")
    assert lines[0] == ":chatservice 704 alice * :Commands (HELP <command> for one):"
    assert lines[1].startswith(":chatservice 705 alice * :AUTHENTICATE AWAY ") and " CAP " in lines[1]
    assert "PRIVMSG" in lines[1]
    assert lines[-1] == ":chatservice 706 alice * :End of /HELP"


def test_help_subject(server):
    """HELP on a command gives its syntax and purpose; on an unknown subject it gets 524."""
    alice = server.register("alice")
    assert alice.said("HELP kill") == [
        ":chatservice 704 alice KILL :KILL: KILL nick :reason",
        ":chatservice 705 alice KILL :As a server operator, disconnect someone.",
        ":chatservice 706 alice KILL :End of /HELP",
    ]
    assert alice.said("HELP nothing") == [
        ":chatservice 524 alice NOTHING :No help available on this topic"]


# OPER and KILL

@pytest.fixture
def oper_server():
    return MixedServer(operators=Operators({"root": cheap_hash("hunter2")}))


def test_oper(oper_server):
    """OPER with the right name and password gets 381 and MODE +o."""
    alice = oper_server.register("alice")
    assert alice.said("OPER root hunter2") == [
        ":chatservice 381 alice :You are now an IRC operator", ":alice!~alice@1.2.3.4 MODE alice +o"]
    assert oper_server.hub.find_user("alice").is_operator
    assert alice.said("MODE alice") == [":chatservice 221 alice +o"]


@pytest.mark.parametrize("credentials", ["root wrong", "admin hunter2"])
def test_oper_wrong(oper_server, credentials):
    """OPER with a wrong name or password gets 464 and no privileges."""
    alice = oper_server.register("alice")
    assert alice.said(f"OPER {credentials}") == [":chatservice 464 alice :Password incorrect"]
    assert not oper_server.hub.find_user("alice").is_operator


def test_oper_none_configured(server):
    """OPER when no operators are configured gets 491."""
    assert server.register("alice").said("OPER root hunter2") == [
        ":chatservice 491 alice :No O-lines for your host"]


def test_oper_deoper(oper_server):
    """An operator can drop the privilege with MODE -o."""
    alice = oper_server.register("alice")
    alice.line("OPER root hunter2")
    assert alice.said("MODE alice -o") == [":alice!~alice@1.2.3.4 MODE alice -o"]
    assert not oper_server.hub.find_user("alice").is_operator


def test_kill_needs_oper(pair):
    """KILL by a non-operator gets 481."""
    alice, bob = pair
    assert alice.said("KILL bob :bye") == [
        ":chatservice 481 alice :Permission Denied - You're not an IRC operator"]
    assert not bob.closed


def test_kill_irc_user(oper_server):
    """KILL closes an IRC user's connection with ERROR and shows others a QUIT."""
    alice, bob, carol = oper_server.room("#lobby", "alice", "bob", "carol")
    alice.line("OPER root hunter2")
    alice.take()
    alice.line("KILL bob :spamming")
    assert bob.take() == ["ERROR :Closing Link: 1.2.3.4 (Killed by alice (spamming))"]
    assert bob.closed
    assert carol.take() == [f":{BOB} QUIT :Killed by alice (spamming)"]
    assert alice.take() == [f":{BOB} QUIT :Killed by alice (spamming)"]
    bob.lose(error.ConnectionDone())
    assert carol.take() == []
    with pytest.raises(errors.NoSuchNick):
        oper_server.hub.find_user("bob")


def test_kill_line_user(oper_server):
    """KILL closes a line user's connection too."""
    bob = oper_server.sign_in_line("bob")
    alice = oper_server.register("alice")
    alice.line("JOIN #lobby")
    alice.line("OPER root hunter2")
    bob.take()
    alice.take()
    alice.line("KILL bob :enough")
    assert bob.take() == ["*** Closing the connection: Killed by alice (enough)."]
    assert bob.closed
    assert alice.take() == [":bob!bob@1.2.3.4 QUIT :Killed by alice (enough)"]


def test_kill_no_such_nick(oper_server):
    """KILL of nobody gets 401."""
    alice = oper_server.register("alice")
    alice.line("OPER root hunter2")
    assert alice.said("KILL ghost :x") == [":chatservice 401 alice ghost :No such nick/channel"]


def test_kill_needs_reason(oper_server):
    """KILL without a reason gets 461."""
    alice = oper_server.register("alice")
    alice.line("OPER root hunter2")
    assert alice.said("KILL bob") == [":chatservice 461 alice KILL :Not enough parameters"]


# QUIT

def test_quit(trio, server):
    """QUIT sends ERROR, closes, others see QUIT with the reason, and the nick is free at once."""
    alice, bob, carol = trio
    assert bob.said("QUIT :off to bed") == ["ERROR :Closing Link: 1.2.3.4 (Quit: off to bed)"]
    assert bob.closed
    assert alice.take() == [f":{BOB} QUIT :Quit: off to bed"]
    assert carol.take() == [f":{BOB} QUIT :Quit: off to bed"]
    assert server.register("bob").nick == "bob"
    bob.lose(error.ConnectionDone())
    assert alice.take() == []


def test_quit_without_reason(pair):
    """QUIT without a reason shows 'Quit'."""
    alice, bob = pair
    assert bob.said("QUIT") == ["ERROR :Closing Link: 1.2.3.4 (Quit)"]
    assert alice.take() == [f":{BOB} QUIT Quit"]


def test_no_input_after_quit(pair):
    """Lines after QUIT are ignored."""
    alice, bob = pair
    bob.send(b"QUIT\r\nPRIVMSG #lobby :ghost\r\n")
    assert alice.take() == [f":{BOB} QUIT Quit"]


def test_connection_lost(pair, server):
    """A connection lost without QUIT signs the user out, others see why, and no timer is left."""
    alice, bob = pair
    bob.lose()
    assert alice.take() == [f":{BOB} QUIT :Connection reset"]
    alice.lose(error.ConnectionDone())
    assert server.hub.user_count == 0
    assert server.clock.getDelayedCalls() == []


# KICK

def test_kick(trio):
    """An operator's KICK is echoed, seen by members and by the kicked user, with the reason."""
    alice, bob, carol = trio
    assert alice.said("KICK #lobby bob :behave") == [f":{ALICE} KICK #lobby bob behave"]
    assert bob.take() == [f":{ALICE} KICK #lobby bob behave"]
    assert carol.take() == [f":{ALICE} KICK #lobby bob behave"]
    assert "#lobby" not in bob.protocol.user.rooms
    alice.line("PRIVMSG #lobby :bye bob")
    assert bob.take() == []


def test_kick_default_reason(pair):
    """A KICK without a reason gives the kicker's nick as reason."""
    alice, bob = pair
    alice.line("KICK #lobby BOB")
    assert bob.take() == [f":{ALICE} KICK #lobby bob alice"]


def test_kick_not_operator(pair):
    """KICK by a non-operator gets 482."""
    alice, bob = pair
    assert bob.said("KICK #lobby alice") == [
        ":chatservice 482 bob #lobby :You're not channel operator"]
    assert alice.take() == []


def test_kick_target_not_in_channel(pair, server):
    """KICK of someone not in the channel gets 441; of nobody, 401."""
    alice, bob = pair
    server.register("carol")
    assert alice.said("KICK #lobby carol,ghost") == [
        ":chatservice 441 alice carol #lobby :They aren't on that channel",
        ":chatservice 401 alice ghost :No such nick/channel",
    ]


def test_kick_not_member(pair, server):
    """KICK in a channel one is not in gets 442; in none, 403."""
    alice, bob = pair
    carol = server.register("carol")
    assert carol.said("KICK #lobby bob") == [
        ":chatservice 442 carol #lobby :You're not on that channel"]
    assert carol.said("KICK #nowhere bob") == [":chatservice 403 carol #nowhere :No such channel"]


# INVITE

def test_invite(pair, server):
    """INVITE gets 341 and the target gets an INVITE line."""
    alice, bob = pair
    carol = server.register("carol")
    assert bob.said("INVITE carol #lobby") == [":chatservice 341 bob carol #lobby"]
    assert carol.take() == [f":{BOB} INVITE carol #lobby"]
    assert alice.take() == []


def test_invite_lets_into_invite_only(pair, server):
    """An invitation from an operator lets the target into a +i channel."""
    alice, bob = pair
    alice.line("MODE #lobby +i")
    carol = server.register("carol")
    assert bob.said("INVITE carol #lobby") == [
        ":chatservice 482 bob #lobby :You're not channel operator"]
    assert alice.said("INVITE carol #lobby") == [":chatservice 341 alice carol #lobby"]
    assert carol.said("JOIN #lobby")[0] == f":{CAROL} JOIN #lobby"


def test_invite_already_member(pair):
    """INVITE of a member gets 443."""
    alice, bob = pair
    assert alice.said("INVITE bob #lobby") == [
        ":chatservice 443 alice bob #lobby :is already on channel"]


def test_invite_errors(pair, server):
    """INVITE of nobody gets 401; to a channel one is not in, 442; without a channel, 461."""
    alice, bob = pair
    carol = server.register("carol")
    assert alice.said("INVITE ghost #lobby") == [
        ":chatservice 401 alice ghost :No such nick/channel"]
    assert carol.said("INVITE bob #lobby") == [
        ":chatservice 442 carol #lobby :You're not on that channel"]
    assert carol.said("INVITE bob") == [":chatservice 461 carol INVITE :Not enough parameters"]


def test_invite_away_target(pair, server):
    """INVITE of an away user also gets 301."""
    alice, bob = pair
    carol = server.register("carol")
    carol.line("AWAY :busy")
    assert alice.said("INVITE carol #lobby") == [
        ":chatservice 341 alice carol #lobby", ":chatservice 301 alice carol busy"]


# Limits and details added after review

def test_privmsg_to_self_arrives(pair):
    """A message to oneself arrives, even without echo-message."""
    alice, bob = pair
    alice.line("PRIVMSG alice :note to self")
    assert alice.take() == [f":{ALICE} PRIVMSG alice :note to self"]
    assert bob.take() == []


def test_long_topic_cut_to_topiclen(pair):
    """A topic longer than TOPICLEN is cut to 390 characters, as IRC servers do, rather than refused."""
    alice, bob = pair
    alice.line("TOPIC #lobby :" + "t" * 450)
    assert alice.take() == [f":{ALICE} TOPIC #lobby " + "t" * 390]
    assert bob.take() == [f":{ALICE} TOPIC #lobby " + "t" * 390]


def test_too_many_channels(server):
    """Joining more channels than CHANLIMIT allows gets 405 for the rest."""
    from chatservice.core.hub import ROOMS_PER_USER

    alice = server.register("alice")
    alice.line("JOIN " + ",".join(f"#r{n}" for n in range(ROOMS_PER_USER)))
    alice.take()
    alice.line("JOIN #onemore")
    assert alice.take() == [":chatservice 405 alice #onemore :You have joined too many channels"]


def test_kick_at_most_four_targets(server):
    """KICK acts on at most four nicks (TARGMAX KICK:4); the rest are ignored."""
    clients = server.room("#lobby", "op", "u1", "u2", "u3", "u4", "u5")
    op = clients[0]
    op.line("KICK #lobby u1,u2,u3,u4,u5 :out")
    kicked = [line.split()[3] for line in op.take()]
    assert kicked == ["u1", "u2", "u3", "u4"]
    assert server.hub.find_room("#lobby").members.keys() == {"op", "u5"}


def test_key_with_space_refused(pair):
    """A channel key that a JOIN could not carry (here one with a space) changes nothing."""
    alice, bob = pair
    alice.line("MODE #lobby +k :two words")
    assert alice.take() == []
    alice.line("MODE #lobby")
    assert alice.take()[0] == ":chatservice 324 alice #lobby +nt"
