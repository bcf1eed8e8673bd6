"""
The counters the hub and the front ends keep for monitoring, and saying
goodbye when the server stops; on fake clocks and transports.
"""

from __future__ import annotations

import pytest
from twisted.internet import error
from twisted.internet.interfaces import ISSLTransport
from zope.interface import alsoProvides

from chatservice.core.limits import Limits
from chatservice.core.stats import DISCONNECT_KINDS, disconnect_kind
from chatservice.frontends.connection import SHUTTING_DOWN
from irc_helpers import MixedServer


@pytest.fixture
def mixed():
    return MixedServer()


@pytest.mark.parametrize("reason, kind", [
    ("Quit", "quit"),
    ("Quit: see you", "quit"),
    ("Ping timeout: 181 seconds", "ping_timeout"),
    ("Excess flood", "excess_flood"),
    ("Send queue exceeded", "send_queue"),
    ("Registration timed out", "registration_timeout"),
    ("Too many connections from your address", "too_many_per_address"),
    ("Too many invalid nicknames", "nick_attempts"),
    ("Bad password", "bad_password"),
    ("Killed by oper (spam)", "killed"),
    (SHUTTING_DOWN, "shutdown"),
    ("Connection closed", "closed_by_client"),
    ("Connection reset", "connection_lost"),
    ("TLS on the plain-text port", "wrong_protocol"),
    ("HTTP on the chat port", "wrong_protocol"),
    ("IRC on the line-chat port", "wrong_protocol"),
])
def test_disconnect_reasons_map_to_fixed_labels(reason, kind):
    """Each reason a front end closes a connection for is counted under its fixed label."""
    assert disconnect_kind(reason) == kind


@pytest.mark.parametrize("reason", [
    "", "Killed", "quit", "alice said \x1b[31m", "Q" * 10_000, "Quitter\udcff",
])
def test_free_text_never_becomes_a_label(reason):
    """A reason that starts with no known prefix is counted as other, whatever it holds."""
    labels = {kind for _, kind in DISCONNECT_KINDS}
    kind = disconnect_kind(reason)
    assert kind in labels | {"other"}
    if not reason.startswith("Quit"):
        assert kind == "other"


def test_room_message_counts_one_delivery_per_other_member(mixed):
    """A message to a room of a speaker and three others is one message and three deliveries, over both front ends."""
    alice, bob = mixed.room("#lobby", "alice", "bob")
    carol = mixed.sign_in_line("carol")
    dave = mixed.sign_in_line("dave")
    stats = mixed.hub.stats
    before = stats.deliveries
    alice.line("PRIVMSG #lobby :hello")
    assert stats.room_messages == 1
    assert stats.deliveries - before == 3
    for client in (bob, carol, dave):
        assert any("hello" in line for line in client.take())


def test_speaker_outside_the_room_is_no_delivery_saved(mixed):
    """A message from outside a room (mode -n) reaches, and is counted for, every member."""
    alice, bob = mixed.room("#open", "alice", "bob")
    alice.line("MODE #open -n")
    carol = mixed.register("carol")
    stats = mixed.hub.stats
    before = stats.deliveries
    carol.line("PRIVMSG #open :from outside")
    assert stats.deliveries - before == 2
    assert any("from outside" in line for line in bob.take())


def test_private_message_counts_as_private(mixed):
    """A private message counts once as private and as one delivery."""
    alice = mixed.register("alice")
    mixed.register("bob")
    stats = mixed.hub.stats
    before = stats.deliveries
    alice.line("PRIVMSG bob :psst")
    assert (stats.private_messages, stats.room_messages) == (1, 0)
    assert stats.deliveries - before == 1


def test_refused_message_is_not_counted(mixed):
    """A message the hub refuses (empty, or to no such room) counts nothing."""
    alice = mixed.register("alice")
    alice.line("PRIVMSG #nowhere :hello")
    alice.line("PRIVMSG #nowhere :")
    assert mixed.hub.stats.room_messages == 0


def test_failed_oper_counts_a_failed_login():
    """A wrong operator password counts one failed login; a right one counts none."""
    from chatservice.core.operators import Operators

    operators = Operators()
    operators.add("root", "secret")
    mixed = MixedServer(operators=operators)
    alice = mixed.register("alice")
    alice.line("OPER root wrong")
    alice.line("OPER root secret")
    assert mixed.hub.stats.logins_failed == 1


def test_wrong_server_password_counts_a_failed_login():
    """An IRC client with a wrong server password counts one failed login and a bad_password disconnect."""
    from chatservice.frontends.irc import IRCSettings

    mixed = MixedServer(settings=IRCSettings(password="letmein"))
    client = mixed.connect()
    client.line("PASS guess")
    client.line("NICK mallory")
    client.line("USER mallory 0 * :M")
    client.lose(error.ConnectionDone())
    assert mixed.hub.stats.logins_failed == 1
    assert mixed.irc_factory.stats.disconnects == {"bad_password": 1}
    mixed.register("alice", password="letmein")
    assert mixed.hub.stats.logins_failed == 1


def test_connections_counted_by_transport(mixed):
    """Accepted and open connections are counted per transport, and open ones go down on disconnect."""
    stats = mixed.irc_factory.stats
    plain = mixed.connect()
    tls = mixed.irc_factory.buildProtocol(None)
    from twisted.internet.testing import StringTransport

    transport = StringTransport()
    alsoProvides(transport, ISSLTransport)
    tls.makeConnection(transport)
    assert stats.accepted == {"tcp": 1, "tls": 1}
    assert stats.open == {"tcp": 1, "tls": 1}
    plain.lose(error.ConnectionDone())
    assert stats.open["tcp"] == 0 and stats.accepted["tcp"] == 1
    assert stats.disconnects == {"closed_by_client": 1}


def test_disconnect_reasons_counted(mixed):
    """A quit, a registration timeout, a reset and a refusal for too many connections are each counted."""
    limits = Limits(flood_control=False, max_per_address=2)
    mixed = MixedServer(limits=limits)
    stats = mixed.line_factory.stats
    quitter = mixed.sign_in_line("quitter", host="5.5.5.5")
    quitter.line("/quit bye")
    quitter.lose(error.ConnectionDone())
    slow = mixed.connect_line(host="6.6.6.6")
    mixed.clock.advance(limits.registration_timeout + 1)
    slow.lose(error.ConnectionDone())
    mixed.connect_line(host="7.7.7.7").lose()
    mixed.connect_line(host="8.8.8.8")
    mixed.connect_line(host="8.8.8.8")
    refused = mixed.connect_line(host="8.8.8.8")
    refused.lose(error.ConnectionDone())
    assert stats.disconnects == {"quit": 1, "registration_timeout": 1,
                                 "connection_lost": 1, "too_many_per_address": 1}


def test_bytes_out_counts_what_clients_were_sent(mixed):
    """Every byte a client is sent, flushed or handed over at close, is counted once."""
    alice = mixed.sign_in_line("alice")
    stats = mixed.line_factory.stats
    before = stats.bytes_out
    alice.line("/help")
    mixed.line_factory.flusher.flush()
    alice.line("/quit")  # its goodbye goes out as the connection closes
    assert alice.closed
    assert stats.bytes_out - before == len(alice.transport.value()) > 0


def test_shut_down_tells_every_client_and_closes(mixed):
    """Shutting a front end down tells line users, IRC clients and half-registered ones, then closes each."""
    line = mixed.sign_in_line("alice")
    irc = mixed.register("bob")
    half = mixed.connect()
    half.line("NICK carol")
    for client in (line, irc, half):
        client.take()
    mixed.line_factory.shut_down()
    mixed.irc_factory.shut_down()
    assert line.take() == ["*** The server is shutting down."]
    assert irc.take() == ["ERROR :Closing Link: 1.2.3.4 (Server shutting down)"]
    assert half.take() == ["ERROR :Closing Link: 1.2.3.4 (Server shutting down)"]
    assert line.closed and irc.closed and half.closed
    assert mixed.hub.user_count == 0


def test_shut_down_fires_when_every_connection_is_gone(mixed):
    """The Deferred of a shutdown fires only once the last connection is gone, counted as shutdown."""
    first = mixed.sign_in_line("alice")
    second = mixed.connect_line()
    gone = mixed.line_factory.shut_down()
    fired = []
    gone.addCallback(fired.append)
    first.lose(error.ConnectionDone())
    assert not fired
    second.lose(error.ConnectionDone())
    assert fired == [None]
    assert mixed.line_factory.stats.disconnects == {"shutdown": 2}


def test_shut_down_with_nobody_fires_at_once(mixed):
    """Shutting down a front end without connections is done at once."""
    fired = []
    mixed.irc_factory.shut_down().addCallback(fired.append)
    assert fired == [None]


def test_connection_arriving_while_shutting_down_is_told_and_closed(mixed):
    """A connection that arrives during shutdown is told and closed, not signed in."""
    mixed.line_factory.shut_down()
    late = mixed.connect_line()
    assert "*** The server is shutting down." in late.take()
    assert late.closed
