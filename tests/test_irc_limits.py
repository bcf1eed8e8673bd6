"""
Tests for how the IRC front end defends itself: overlong lines, control
characters, forged sources, flooding, clients that do not read, idle clients,
bugs in handlers and connections per address.
"""

from __future__ import annotations

import dataclasses

import pytest
from twisted.internet import error

from chatservice.core import errors
from chatservice.core.limits import Limits
from chatservice.frontends.irc import IRCSettings, commands
from irc_helpers import MixedServer

ALICE = "alice!~alice@1.2.3.4"
BOB = "bob!~bob@1.2.3.4"
TOO_LONG = ":chatservice 417 alice :Input line was too long"


@pytest.fixture
def server():
    return MixedServer()


@pytest.fixture
def trio(server):
    """IRC users alice (operator) and bob, and line user carol, all in #lobby."""
    alice, bob = server.room("#lobby", "alice", "bob")
    carol = server.sign_in_line("carol")
    alice.take(), bob.take()
    return alice, bob, carol


# Overlong lines

def test_body_too_long(trio):
    """A body over 512 bytes gets 417, is not acted on, and the connection stays."""
    alice, bob, carol = trio
    head = "PRIVMSG #lobby :"
    alice.line(head + "x" * (511 - len(head)))
    assert alice.take() == [TOO_LONG]
    assert bob.take() == [] and carol.take() == []
    alice.line(head + "x" * (510 - len(head)))
    assert alice.take() == []
    assert len(bob.take()) == 1  # one line for bob, cut to fit alice's mask
    assert not alice.closed


def test_tags_too_long(trio):
    """Tags over 4096 bytes get 417, and the next line is handled."""
    alice, bob, carol = trio
    alice.line("@k=" + "v" * 4093 + " PRIVMSG #lobby :tagged")
    assert alice.take() == [TOO_LONG]
    assert bob.take() == []
    alice.line("@k=" + "v" * 4092 + " PRIVMSG #lobby :fits")
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :fits"]


def test_line_over_frame_limit(trio):
    """A line longer than tags and body together allow gets 417 once, and the following line is handled."""
    alice, bob, carol = trio
    alice.send(b"PRIVMSG #lobby :" + b"x" * 10000 + b"\r\nPRIVMSG #lobby :after\r\n")
    assert alice.take() == [TOO_LONG]
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :after"]
    assert not alice.closed


def test_line_over_frame_limit_in_pieces(trio):
    """An overlong line arriving in pieces gets 417 as soon as it passes the limit, before its newline, once, and is discarded as a whole."""
    alice, bob, carol = trio
    for _ in range(4):
        alice.send(b"x" * 1000)
    assert alice.take() == []
    alice.send(b"x" * 1000)
    assert alice.take() == [TOO_LONG]
    for _ in range(100):
        alice.send(b"x" * 1000)
    assert alice.take() == []
    alice.send(b"yyy\r\nPING :ok\r\n")
    assert alice.take() == [":chatservice PONG chatservice ok"]
    assert bob.take() == [] and carol.take() == []


def test_too_long_before_registration(server):
    """417 is addressed to * before registration, and registration still works after it."""
    client = server.connect()
    client.line("NICK " + "a" * 600)
    assert client.take() == [":chatservice 417 * :Input line was too long"]
    client.line("NICK alice")
    client.line("USER alice 0 * :A")
    assert client.take()[0].startswith(":chatservice 001 alice ")


# Control characters and forged sources

HOSTILE = "a\x00b\x1b[2Jc\rd\x07e\u202ef\x9bg"
CLEANED = "abcdefg"


def test_controls_never_reach_irc_or_line_clients(trio):
    """NUL, ESC, CR, BEL, C1 controls and bidi overrides in a message never reach other clients."""
    alice, bob, carol = trio
    alice.send(f"PRIVMSG #lobby :{HOSTILE}\r\n".encode("utf-8"))
    assert bob.raw() == f":{ALICE} PRIVMSG #lobby :{CLEANED}\r\n".encode()
    assert carol.raw() == f"[#lobby] <alice> {CLEANED}\r\n".encode()


@pytest.mark.parametrize("command, irc_line, line_line", [
    ("TOPIC #lobby :{}", ":{alice} TOPIC #lobby {}", "*** alice set the topic of #lobby: {}"),
    ("PART #lobby :{}", ":{alice} PART #lobby {}", "*** alice left #lobby ({})"),
    ("KICK #lobby bob :{}", ":{alice} KICK #lobby bob {}", "*** alice kicked bob from #lobby ({})"),
    ("QUIT :{}", ":{alice} QUIT :Quit: {}", "*** alice quit (Quit: {})"),
])
def test_controls_never_reach_others_in_other_commands(trio, command, irc_line, line_line):
    """Control characters in topics, part, kick and quit reasons never reach other clients."""
    alice, bob, carol = trio
    alice.send(command.format(HOSTILE).encode("utf-8") + b"\r\n")
    assert bob.raw() == (irc_line.format(CLEANED, alice=ALICE) + "\r\n").encode()
    assert carol.raw() == (line_line.format(CLEANED) + "\r\n").encode()


def test_line_feed_only_ends_the_line(trio):
    """A LF inside what a client meant as one message ends that line; nothing else is injected."""
    alice, bob, carol = trio
    alice.send(b"PRIVMSG #lobby :one\nPRIVMSG #lobby :two\r\n")
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :one", f":{ALICE} PRIVMSG #lobby :two"]


def test_controls_from_line_user_never_reach_irc(trio):
    """Control characters sent by a line user never reach IRC clients."""
    alice, bob, carol = trio
    carol.send(f"{HOSTILE}\r\n".encode("utf-8"))
    assert bob.raw() == f":carol!carol@1.2.3.4 PRIVMSG #lobby :{CLEANED}\r\n".encode()


def test_away_message_cleaned(server):
    """An away message with control characters reaches away-notify clients cleaned."""
    alice, = server.room("#lobby", "alice")
    bob, = server.room("#lobby", "bob", caps=("away-notify",))
    alice.take()
    alice.send(f"AWAY :{HOSTILE}\r\n".encode("utf-8"))
    assert bob.raw() == f":{ALICE} AWAY {CLEANED}\r\n".encode()


def test_forged_source_ignored(trio):
    """A source prefix sent by a client is ignored: others see the real sender."""
    alice, bob, carol = trio
    alice.line(f":{BOB} PRIVMSG #lobby :I am bob")
    alice.line(":chatservice NOTICE #lobby :server notice")
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :I am bob",
                          f":{ALICE} NOTICE #lobby :server notice"]
    assert carol.take() == ["[#lobby] <alice> I am bob", "[#lobby] -alice- server notice"]


def test_long_text_from_line_user_fits_irc(trio):
    """Topics and reasons a line user makes longer than IRC allows are cut to 512 bytes for IRC clients."""
    alice, bob, carol = trio
    alice.line("MODE #lobby -t")
    alice.take(), bob.take()
    carol.line("/topic " + "\u20ac" * 390)
    carol.line("/quit " + "\u00e9" * 300)
    lines = bob.take()  # take() checks every line is within 512 bytes
    assert lines[0].startswith(":carol!carol@1.2.3.4 TOPIC #lobby \u20ac\u20ac")
    assert lines[1].startswith(":carol!carol@1.2.3.4 QUIT :Quit: \u00e9\u00e9")
    assert bob.said("TOPIC #lobby")[0].startswith(":chatservice 332 bob #lobby \u20ac")


# Flood control

def flood_server(**limits) -> tuple[MixedServer, object, object]:
    server = MixedServer(Limits(**limits))
    alice, bob = server.room("#lobby", "alice", "bob")
    server.clock.advance(30)  # Both buckets are full again.
    return server, alice, bob


def test_flood_burst_goes_through():
    """A burst of flood_burst lines is handled at once."""
    server, alice, bob = flood_server()
    alice.send(b"".join(b"PRIVMSG #lobby :line %d\r\n" % n for n in range(20)))
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :line {n}" for n in range(20)]


def test_flood_delayed_in_order():
    """Lines beyond the burst are delayed and handled in order at the flood rate."""
    server, alice, bob = flood_server()
    alice.send(b"".join(b"PRIVMSG #lobby :line %d\r\n" % n for n in range(23)))
    assert len(bob.take()) == 20
    server.clock.advance(0.49)
    assert bob.take() == []
    server.clock.advance(0.01)
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :line 20"]
    server.clock.pump([0.5, 0.5])
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :line {n}" for n in (21, 22)]
    assert not alice.closed


def test_flood_disconnects():
    """A client that keeps flooding is closed with 'Excess flood' and the others see it quit."""
    server, alice, bob = flood_server()
    alice.send(b"".join(b"PRIVMSG #lobby :line %d\r\n" % n for n in range(60)))
    assert not alice.closed
    assert alice.take() == []
    alice.line("PRIVMSG #lobby :one too many")
    assert alice.take() == ["ERROR :Closing Link: 1.2.3.4 (Excess flood)"]
    assert alice.closed
    assert bob.take()[-1] == f":{ALICE} QUIT :Excess flood"
    server.clock.advance(50)
    assert bob.take() == []
    alice.lose(error.ConnectionDone())
    assert [call for call in server.clock.getDelayedCalls()
            if call.func.__self__ is alice.protocol] == []


def test_flood_before_registration():
    """Flood control applies before registration too."""
    server = MixedServer(Limits(flood_burst=2, flood_queue=1))
    client = server.connect()
    client.send(b"PING a\r\nPING b\r\nPING c\r\nPING d\r\n")
    assert client.closed
    assert client.take()[-1] == "ERROR :Closing Link: 1.2.3.4 (Excess flood)"


def test_pong_is_delayed_like_any_line():
    """Delayed lines are answered when their turn comes."""
    server, alice, bob = flood_server()
    alice.send(b"".join(b"PING %d\r\n" % n for n in range(21)))
    assert alice.take() == [f":chatservice PONG chatservice {n}" for n in range(20)]
    server.clock.advance(0.5)
    assert alice.take() == [":chatservice PONG chatservice 20"]


# Clients that do not read

def test_send_queue_overflow():
    """A client that stops reading is dropped when its output passes max_send_queue; others see its QUIT."""
    server = MixedServer(Limits(max_send_queue=300, flood_control=False))
    alice, bob, carol = server.room("#lobby", "alice", "bob", "carol")
    bob.pause_reading()
    for n in range(6):
        alice.line(f"PRIVMSG #lobby :message {n}")  # 49 bytes each for bob
    assert bob.protocol.send_queue.held_bytes == 294
    assert not bob.closed
    alice.line("PRIVMSG #lobby :the straw")
    assert bob.closed and bob.aborted
    assert bob.take() == []
    assert alice.take() == [f":{BOB} QUIT :Send queue exceeded"]
    assert carol.take()[-2:] == [f":{BOB} QUIT :Send queue exceeded",
                                 f":{ALICE} PRIVMSG #lobby :the straw"]
    with pytest.raises(errors.NoSuchNick):
        server.hub.find_user("bob")
    bob.lose()
    assert alice.take() == []


def test_private_message_drops_non_reader():
    """A private message that overflows its non-reading recipient drops the recipient, and the sender gets no error."""
    server = MixedServer(Limits(max_send_queue=100, flood_control=False))
    alice, bob = server.room("#lobby", "alice", "bob")
    bob.pause_reading()
    assert alice.said("PRIVMSG bob :" + "x" * 150) == [f":{BOB} QUIT :Send queue exceeded"]
    assert bob.aborted


def test_invite_drops_non_reader():
    """An INVITE that overflows its non-reading target drops the target, and the inviter gets only 341."""
    server = MixedServer(Limits(max_send_queue=30, flood_control=False))
    alice, = server.room("#lobby", "alice")
    bob = server.register("bob")
    bob.pause_reading()
    assert alice.said("INVITE bob #lobby") == [":chatservice 341 alice bob #lobby"]
    assert bob.aborted


def test_paused_client_catches_up():
    """Output held for a paused client is delivered when it reads again."""
    server = MixedServer()
    alice, bob = server.room("#lobby", "alice", "bob")
    bob.pause_reading()
    alice.line("PRIVMSG #lobby :one")
    assert bob.take() == []
    bob.resume_reading()
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :one"]


# Idle clients

def test_ping_timeout(trio, server):
    """A silent client is PINGed after ping_interval and dropped after ping_timeout more; others see why."""
    alice, bob, carol = trio
    bob.line("PING keepalive")
    bob.take()
    server.clock.advance(119.9)
    assert alice.take() == []
    server.clock.advance(0.1)
    assert alice.take() == ["PING chatservice"]
    bob.line("PONG chatservice")
    server.clock.advance(59.9)
    assert not alice.closed
    server.clock.advance(0.1)
    assert alice.take() == ["ERROR :Closing Link: 1.2.3.4 (Ping timeout: 180 seconds)"]
    assert alice.closed
    assert bob.take() == ["PING chatservice", f":{ALICE} QUIT :Ping timeout: 180 seconds"]
    assert carol.take() == ["*** alice quit (Ping timeout: 180 seconds)"]
    assert not bob.closed


def test_answering_client_stays(server):
    """A client that answers each PING is never dropped."""
    alice = server.register("alice")
    for _ in range(5):
        server.clock.advance(120)
        assert alice.take() == ["PING chatservice"]
        server.clock.advance(30)
        alice.line("PONG :chatservice")
    server.clock.advance(59)
    assert not alice.closed


def test_active_client_not_pinged(server):
    """A client that keeps talking is never PINGed."""
    alice = server.register("alice")
    for _ in range(10):
        server.clock.advance(100)
        alice.line("PING x")
    assert alice.take() == [":chatservice PONG chatservice x"] * 10
    assert not alice.closed


def test_ping_settings():
    """ping_interval and ping_timeout follow IRCSettings."""
    server = MixedServer(settings=IRCSettings(ping_interval=10, ping_timeout=5))
    alice = server.register("alice")
    server.clock.advance(10)
    assert alice.take() == ["PING chatservice"]
    server.clock.advance(5)
    assert alice.take() == ["ERROR :Closing Link: 1.2.3.4 (Ping timeout: 15 seconds)"]


def test_no_ping_timer_after_loss(server):
    """A lost connection leaves no ping timer behind."""
    alice = server.register("alice")
    alice.lose()
    assert server.clock.getDelayedCalls() == []


# Bugs in handlers

def test_handler_bug_costs_one_line(trio, monkeypatch):
    """A command whose handler raises gets 400, and the connection and later commands keep working."""
    alice, bob, carol = trio

    def broken(conn, user, message):
        raise RuntimeError("oops")

    monkeypatch.setitem(commands.COMMANDS, "TIME",
                        dataclasses.replace(commands.COMMANDS["TIME"], handler=broken))
    alice.send(b"TIME\r\nPRIVMSG #lobby :still here\r\n")
    assert alice.take() == [":chatservice 400 alice * :Internal error; the command was dropped"]
    assert not alice.closed
    assert bob.take() == [f":{ALICE} PRIVMSG #lobby :still here"]


# Connections per address

def test_per_address_limit_shared_with_line():
    """IRC and line connections from one address count against one limit; the refused IRC client gets ERROR."""
    server = MixedServer(Limits(max_per_address=2, flood_control=False))
    server.sign_in_line("carol", host="5.6.7.8")
    server.register("alice", host="5.6.7.8")
    refused = server.connect("5.6.7.8")
    assert refused.take() == [
        "ERROR :Too many connections from your address (the limit is 2)",
        "ERROR :Closing Link: 5.6.7.8 (Too many connections from your address)",
    ]
    assert refused.closed
    refused.line("NICK bob")
    refused.line("USER bob 0 * :B")
    assert server.hub.user_count == 2
    assert not server.connect("5.6.7.9").closed


def test_ipv6_host_shown_safely(server):
    """An IPv6 host starting with ':' is shown with a leading 0 in masks."""
    alice = server.register("alice", host="::1")
    bob = server.register("bob")
    alice.line("PRIVMSG bob :hi")
    assert bob.take() == [":alice!~alice@0::1 PRIVMSG bob :hi"]
