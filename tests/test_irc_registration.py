"""
Tests for IRC registration: NICK, USER, CAP, PASS, the welcome burst and the
registration deadline, over L{StringTransport}s on a fake clock.
"""

from __future__ import annotations

import pytest

from chatservice.core.limits import Limits
from chatservice.frontends.irc import IRCSettings
from irc_helpers import MixedServer

CAPS = ("away-notify batch cap-notify draft/channel-rename draft/metadata-3 draft/multiline "
        "draft/read-marker echo-message extended-monitor labeled-response message-tags "
        "multi-prefix server-time setname userhost-in-names")
# CAP LS 302 also gives capabilities' values.
CAPS_302 = CAPS.replace(
    "draft/multiline", "draft/multiline=max-bytes=4096,max-lines=32").replace(
    "draft/metadata-3", "draft/metadata-3=before-connect,max-subs=50,max-keys=20,max-value-bytes=300")

WELCOME = [
    ":chatservice 001 alice :Welcome to the chatservice IRC network, alice!~alice@1.2.3.4",
    ":chatservice 002 alice :Your host is chatservice, running version chatservice-0.1.0",
    ":chatservice 003 alice :This server was created Thu Jan 01 1970 at 00:00:00 UTC",
    ":chatservice 004 alice chatservice chatservice-0.1.0 Biow CIbeiklmnostv Ibeklov",
    ":chatservice 005 alice AWAYLEN=300 BOT=B CASEMAPPING=rfc1459 CHANLIMIT=#:50 "
    "CHANMODES=Ibe,k,l,Cimnst CHANNELLEN=50 CHANTYPES=# ELIST=CMNTU EXCEPTS=e EXTBAN=,m "
    "INVEX=I KICKLEN=300 METADATA=20 :are supported by this server",
    ":chatservice 005 alice MODES=4 MONITOR=100 NETWORK=chatservice NICKLEN=32 PREFIX=(ov)@+ "
    "STATUSMSG=@+ TARGMAX=JOIN:,KICK:4,LIST:,NAMES:,NOTICE:4,PART:,PRIVMSG:4,WHOIS:1 "
    "TOPICLEN=390 USERLEN=11 UTF8ONLY WHOX :are supported by this server",
    ":chatservice 251 alice :There are 1 users and 0 invisible on 1 servers",
    ":chatservice 252 alice 0 :operator(s) online",
    ":chatservice 254 alice 0 :channels formed",
    ":chatservice 255 alice :I have 1 clients and 0 servers",
    ":chatservice 265 alice 1 1 :Current local users 1, max 1",
    ":chatservice 266 alice 1 1 :Current global users 1, max 1",
    ":chatservice 422 alice :MOTD File is missing",
]


@pytest.fixture
def server():
    return MixedServer()


def welcomed(lines: list[str]) -> bool:
    return any(" 001 " in line for line in lines)


# NICK and USER

def test_nick_then_user(server):
    """NICK then USER registers the client and sends the whole welcome burst."""
    client = server.connect()
    assert client.take() == []
    client.line("NICK alice")
    assert client.take() == []
    client.line("USER alice 0 * :Alice Liddell")
    assert client.take() == WELCOME
    user = server.hub.find_user("alice")
    assert user.client is client.protocol
    assert (user.username, user.host, user.realname) == ("~alice", "1.2.3.4", "Alice Liddell")
    assert user.rooms == {}


def test_user_then_nick(server):
    """USER then NICK registers the client just the same."""
    client = server.connect()
    client.line("USER alice 0 * :Alice Liddell")
    assert client.take() == []
    client.line("NICK alice")
    assert client.take() == WELCOME


def test_user_name_sanitised(server):
    """A user name is cut to 10 safe characters and shown with a ~, since there is no ident lookup."""
    client = server.connect()
    client.line("NICK alice")
    client.line("USER a!b@c$defghijklmnop 0 * :A")
    assert client.take()[0] == (
        ":chatservice 001 alice :Welcome to the chatservice IRC network, alice!~abcdefghij@1.2.3.4")


def test_user_name_all_unsafe(server):
    """A user name with no safe character becomes ~user."""
    client = server.connect()
    client.line("NICK alice")
    client.line("USER !@! 0 * :A")
    assert server.hub.find_user("alice").username == "~user"


def test_user_needs_four_params(server):
    """USER with fewer than four parameters gets 461 and registers nobody."""
    client = server.connect()
    client.line("NICK alice")
    client.line("USER alice 0 *")
    assert client.take() == [":chatservice 461 alice USER :Not enough parameters"]
    assert server.hub.user_count == 0


def test_nick_change_before_registration(server):
    """A second NICK before USER replaces the first."""
    client = server.connect()
    client.line("NICK alice")
    client.line("NICK alicia")
    client.line("USER a 0 * :A")
    assert client.take()[0].startswith(":chatservice 001 alicia ")


def test_431_no_nick(server):
    """NICK without a nickname, or with an empty one, gets 431."""
    client = server.connect()
    client.line("NICK")
    client.line("NICK :")
    assert client.take() == [":chatservice 431 * :No nickname given"] * 2


@pytest.mark.parametrize("nick", ["9lives", "-dash", "a" * 33, "caf\u00e9", "a.b"])
def test_432_erroneous_nick(server, nick):
    """An invalid nickname gets 432 and leaves the client unregistered."""
    client = server.connect()
    client.line(f"NICK {nick}")
    client.line("USER a 0 * :A")
    assert client.take() == [f":chatservice 432 * {nick} :Erroneous nickname"]
    assert server.hub.user_count == 0
    client.line("NICK alice")
    assert welcomed(client.take())


def test_433_taken_by_irc_user(server):
    """A nickname held by an IRC user, in any case, gets 433; another one works."""
    server.register("alice")
    client = server.connect()
    client.line("NICK ALICE")
    client.line("USER a 0 * :A")
    assert client.take() == [":chatservice 433 * ALICE :Nickname is already in use"]
    client.line("NICK alice2")
    assert welcomed(client.take())


def test_433_taken_by_line_user(server):
    """A nickname held by a line user gets 433, compared with rfc1459 case mapping."""
    server.sign_in_line("Bob[away]")
    client = server.connect()
    client.line("NICK bob{AWAY}")
    assert client.take() == [":chatservice 433 * bob{AWAY} :Nickname is already in use"]


def test_433_taken_between_nick_and_user(server):
    """A nickname taken by somebody else between NICK and USER gets 433 at USER, and NICK may be sent again."""
    client = server.connect()
    client.line("NICK alice")
    server.sign_in_line("alice")
    client.line("USER a 0 * :A")
    assert client.take() == [":chatservice 433 * alice :Nickname is already in use"]
    assert server.hub.find_user("alice").client is not client.protocol
    client.line("NICK alice_")
    assert client.take()[0].startswith(":chatservice 001 alice_ ")


# Commands before and after registration

@pytest.mark.parametrize("command", ["JOIN #a", "PRIVMSG bob :hi", "MODE alice", "WHOIS bob",
                                     "LIST", "AWAY :x", "TOPIC #a", "NAMES #a"])
def test_451_before_registration(server, command):
    """Commands that need registration get 451 before it."""
    client = server.connect()
    client.line(command)
    assert client.take() == [":chatservice 451 * :You have not registered"]


def test_451_uses_nick_once_given(server):
    """A numeric before registration is addressed to the nickname once one was given."""
    client = server.connect()
    client.line("NICK alice")
    client.line("JOIN #a")
    assert client.take() == [":chatservice 451 alice :You have not registered"]


def test_421_unknown_command(server):
    """An unknown command gets 421, before and after registration, with the command upper-cased."""
    client = server.connect()
    client.line("frobnicate x")
    assert client.take() == [":chatservice 421 * FROBNICATE :Unknown command"]
    alice = server.register("alice")
    alice.line("FROB")
    assert alice.take() == [":chatservice 421 alice FROB :Unknown command"]


def test_ping_before_registration(server):
    """PING is answered before registration."""
    client = server.connect()
    client.line("PING :abc")
    assert client.take() == [":chatservice PONG chatservice abc"]


def test_462_user_after_registration(server):
    """USER or PASS after registration gets 462."""
    alice = server.register("alice")
    alice.line("USER x 0 * :X")
    alice.line("PASS secret")
    assert alice.take() == [":chatservice 462 alice :You may not reregister"] * 2


def test_462_second_user_before_registration(server):
    """A second USER before NICK gets 462 and the first one stays."""
    client = server.connect()
    client.line("USER first 0 * :First")
    client.line("USER second 0 * :Second")
    assert client.take() == [":chatservice 462 * :You may not reregister"]
    client.line("NICK alice")
    client.take()
    assert server.hub.find_user("alice").username == "~first"


def test_quit_before_registration(server):
    """QUIT before registration closes the connection with ERROR."""
    client = server.connect()
    client.line("QUIT :bye")
    assert client.take() == ["ERROR :Closing Link: 1.2.3.4 (Quit: bye)"]
    assert client.closed


# CAP

def test_cap_ls_302_holds_registration(server):
    """CAP LS 302 lists the capabilities and holds registration until CAP END."""
    client = server.connect()
    client.line("CAP LS 302")
    assert client.take() == [f":chatservice CAP * LS :{CAPS_302}"]
    client.line("NICK alice")
    client.line("USER alice 0 * :Alice")
    assert client.take() == []
    assert server.hub.user_count == 0
    client.line("CAP END")
    assert client.take()[0].startswith(":chatservice 001 alice ")


def test_cap_ls_302_enables_cap_notify(server):
    """CAP LS 302 turns cap-notify on implicitly."""
    client = server.connect()
    client.line("CAP LS 302")
    client.line("CAP LIST")
    assert client.take()[-1] == ":chatservice CAP * LIST cap-notify"


def test_cap_ls_without_version(server):
    """Plain CAP LS lists the capabilities without enabling cap-notify."""
    client = server.connect()
    client.line("CAP LS")
    client.line("CAP LIST")
    assert client.take() == [f":chatservice CAP * LS :{CAPS}", ":chatservice CAP * LIST :"]


def test_cap_req_ack(server):
    """CAP REQ for known capabilities is ACKed with the request and CAP LIST shows them."""
    client = server.connect()
    client.line("CAP LS 302")
    client.line("CAP REQ :server-time multi-prefix")
    client.line("CAP LIST")
    assert client.take()[1:] == [
        ":chatservice CAP * ACK :server-time multi-prefix",
        ":chatservice CAP * LIST :cap-notify multi-prefix server-time",
    ]


def test_cap_req_all_or_nothing(server):
    """CAP REQ with one unknown capability is NAKed whole and enables nothing."""
    client = server.connect()
    client.line("CAP REQ :server-time sasl")
    client.line("CAP LIST")
    assert client.take() == [":chatservice CAP * NAK :server-time sasl",
                             ":chatservice CAP * LIST :"]


def test_cap_req_unknown_naks(server):
    """CAP REQ for an unknown capability is NAKed."""
    client = server.connect()
    client.line("CAP REQ unknown-cap")
    assert client.take() == [":chatservice CAP * NAK unknown-cap"]


def test_cap_req_empty_naks(server):
    """An empty CAP REQ is NAKed."""
    client = server.connect()
    client.line("CAP REQ :")
    assert client.take() == [":chatservice CAP * NAK :"]


def test_cap_req_removal(server):
    """CAP REQ :-cap removes a capability."""
    client = server.connect()
    client.line("CAP REQ :server-time echo-message")
    client.line("CAP REQ :-server-time")
    client.line("CAP LIST")
    assert client.take()[1:] == [":chatservice CAP * ACK -server-time",
                                 ":chatservice CAP * LIST echo-message"]


def test_cap_req_holds_registration(server):
    """CAP REQ without CAP LS also holds registration until CAP END."""
    client = server.connect()
    client.line("CAP REQ :echo-message")
    client.line("NICK alice")
    client.line("USER alice 0 * :A")
    assert client.take() == [":chatservice CAP * ACK echo-message"]
    client.line("CAP END")
    assert welcomed(client.take())


def test_cap_after_registration(server):
    """Capabilities may be requested after registration; the replies are addressed to the nick."""
    alice = server.register("alice")
    alice.line("CAP REQ :away-notify")
    alice.line("CAP LIST")
    alice.line("CAP END")
    assert alice.take() == [":chatservice CAP alice ACK away-notify",
                            ":chatservice CAP alice LIST away-notify"]


def test_cap_unknown_subcommand(server):
    """An unknown CAP subcommand gets 410."""
    client = server.connect()
    client.line("CAP FOO")
    assert client.take() == [":chatservice 410 * FOO :Invalid CAP command"]


def test_cap_ls_non_ascii_version(server):
    """A CAP LS version made of non-ASCII digits is treated as no version, not a server error."""
    client = server.connect()
    client.line("CAP LS \u00b2")
    assert client.take() == [f":chatservice CAP * LS :{CAPS}"]


# PASS

def test_password_right():
    """With a server password, the right PASS lets the client register."""
    server = MixedServer(settings=IRCSettings(password="s3cret"))
    assert server.register("alice", password="s3cret").nick == "alice"


@pytest.mark.parametrize("password", [None, "wrong", "s3cret "])
def test_password_wrong_or_missing(password):
    """With a server password, a wrong or missing PASS gets 464 and ERROR, and the connection closes."""
    server = MixedServer(settings=IRCSettings(password="s3cret"))
    client = server.connect()
    if password is not None:
        client.line(f"PASS :{password}")
    client.line("NICK alice")
    client.line("USER alice 0 * :A")
    assert client.take() == [":chatservice 464 alice :Password incorrect",
                             "ERROR :Closing Link: 1.2.3.4 (Bad password)"]
    assert client.closed
    assert server.hub.user_count == 0


def test_password_checked_after_cap_end():
    """The password is checked when registration completes, after CAP END."""
    server = MixedServer(settings=IRCSettings(password="pw"))
    client = server.connect()
    client.line("CAP LS 302")
    client.line("NICK alice")
    client.line("USER alice 0 * :A")
    client.line("PASS pw")
    client.line("CAP END")
    assert welcomed(client.take())


def test_password_ignored_without_setting(server):
    """Without a server password, any PASS is accepted."""
    assert server.register("alice", password="whatever").nick == "alice"


# Welcome burst

def test_welcome_motd():
    """The MOTD is sent as 375, one 372 per line, and 376."""
    server = MixedServer(settings=IRCSettings(motd=("Be nice.", "No flooding.")))
    client = server.connect()
    client.line("NICK alice")
    client.line("USER alice 0 * :A")
    assert client.take()[-4:] == [
        ":chatservice 375 alice :- chatservice Message of the day - ",
        ":chatservice 372 alice :- Be nice.",
        ":chatservice 372 alice :- No flooding.",
        ":chatservice 376 alice :End of /MOTD command.",
    ]


def test_welcome_counts(server):
    """LUSERS in the welcome counts every user, invisible ones, operators and rooms."""
    server.sign_in_line("bob")
    server.register("carol").line("MODE carol +i")
    client = server.connect()
    client.line("NICK alice")
    client.line("USER alice 0 * :A")
    lines = client.take()
    assert lines[6:12] == [
        ":chatservice 251 alice :There are 2 users and 1 invisible on 1 servers",
        ":chatservice 252 alice 0 :operator(s) online",
        ":chatservice 254 alice 1 :channels formed",
        ":chatservice 255 alice :I have 3 clients and 0 servers",
        ":chatservice 265 alice 3 3 :Current local users 3, max 3",
        ":chatservice 266 alice 3 3 :Current global users 3, max 3",
    ]


def test_welcome_network_name():
    """The hub's name appears as the server, in 001 and as NETWORK."""
    server = MixedServer(name="example")
    client = server.connect()
    client.line("NICK alice")
    client.line("USER alice 0 * :A")
    lines = client.take()
    assert lines[0] == (
        ":example 001 alice :Welcome to the example IRC network, alice!~alice@1.2.3.4")
    assert any(" 005 " in line and " NETWORK=example " in line for line in lines)


def test_welcome_does_not_join_default_room(server):
    """An IRC client joins no room on registering; line users are not told of it."""
    bob = server.sign_in_line("bob")
    server.register("alice")
    assert bob.take() == []
    assert server.hub.find_user("alice").rooms == {}


# Registration deadline

def test_registration_timeout(server):
    """A client that has not registered after registration_timeout is closed with ERROR."""
    client = server.connect()
    client.line("NICK alice")
    server.clock.advance(59.9)
    assert not client.closed
    server.clock.advance(0.1)
    assert client.take() == ["ERROR :Closing Link: 1.2.3.4 (Registration timed out)"]
    assert client.closed


def test_registration_timeout_during_cap(server):
    """Capability negotiation that never ends is cut off by the registration deadline."""
    client = server.connect()
    client.line("CAP LS 302")
    client.line("NICK alice")
    client.line("USER alice 0 * :A")
    server.clock.advance(60)
    assert client.closed
    assert server.hub.user_count == 0


def test_registration_timeout_option():
    """The deadline follows Limits.registration_timeout."""
    server = MixedServer(Limits(registration_timeout=5, flood_control=False))
    client = server.connect()
    server.clock.advance(5)
    assert client.closed


def test_registered_not_timed_out(server):
    """A registered client is not closed by the registration deadline."""
    client = server.register("alice")
    server.clock.advance(61)
    assert not client.closed


def test_lost_before_registration(server):
    """A connection lost before registration leaves no user and no timer."""
    client = server.connect()
    client.line("NICK alice")
    client.lose()
    assert server.hub.user_count == 0
    assert server.clock.getDelayedCalls() == []
