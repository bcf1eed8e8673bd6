"""
Tests for what an idle connection holds (issue 14): every attribute that a
signed-in IRC or line connection comes to hold is one it was made with, so
that CPython keeps them in the class's shared table of names rather than in
a dictionary per connection (see C{GuardedLineReceiver.__init__}); and an
idle send queue holds no list.
"""

from __future__ import annotations

from irc_helpers import MixedServer
from chatservice.frontends.irc import IRCConnection
from chatservice.frontends.line import LineChatProtocol

# CPython's shared table of instance attribute names takes 30; the first
# instance's own creation takes one place.
SHARED_NAMES = 29


def test_a_signed_in_irc_connection_holds_only_what_it_was_made_with():
    """A registered IRC client (CAP, batches, pinged) holds no attribute its connection was not made with, and those fit the shared table."""
    made_with = set(vars(IRCConnection()))
    assert len(made_with) <= SHARED_NAMES
    server = MixedServer()
    client = server.connect()
    client.line("CAP LS 302")
    client.line("CAP REQ :batch server-time")
    client.line("NICK alice")
    client.line("USER alice 0 * :Alice")
    client.line("CAP END")
    client.take()
    client.protocol.new_batch()
    server.clock.advance(server.settings.ping_interval + 1)
    assert any(line.startswith("PING") for line in client.take())
    client.line("PONG :chatservice")
    server.joined("#room", client)
    client.line("PART #room")
    client.take()
    assert client.protocol.user is not None
    assert set(vars(client.protocol)) <= made_with


def test_a_signed_in_line_connection_holds_only_what_it_was_made_with():
    """A signed-in line client holds no attribute its connection was not made with, and those fit the shared table."""
    made_with = set(vars(LineChatProtocol()))
    assert len(made_with) <= SHARED_NAMES
    server = MixedServer()
    client = server.sign_in_line("bob")
    client.line("hello")
    client.take()
    assert set(vars(client.protocol)) <= made_with


def test_an_idle_send_queue_holds_no_list():
    """Once its output is written, a connection's send queue holds no list of pending output."""
    server = MixedServer()
    client = server.connect()
    client.line("NICK carol")
    client.line("USER carol 0 * :Carol")
    client.take()
    assert not isinstance(client.protocol.send_queue._pending, list)
