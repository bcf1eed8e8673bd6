"""
Tests for the IRCv3 ``sts`` policy: what CAP LS says on plain and TLS
connections (fake transports), and which port of the listeners is the TLS one.
"""

from __future__ import annotations

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import ISSLTransport, ITCPTransport
from twisted.internet.testing import StringTransport
from zope.interface import directlyProvides

from chatservice.frontends import secure
from chatservice.frontends.irc import IRCSettings
from irc_helpers import FakeIRCClient, MixedServer


def connect(server: MixedServer, *kinds) -> FakeIRCClient:
    """An IRC connection whose transport provides the interfaces C{kinds}."""
    peer = IPv4Address("TCP", "1.2.3.4", 5000)
    protocol = server.irc_factory.buildProtocol(peer)
    transport = StringTransport(peerAddress=peer)
    if kinds:
        directlyProvides(transport, *kinds)
    protocol.makeConnection(transport)
    return FakeIRCClient(protocol, transport, "1.2.3.4")


def cap_ls(client: FakeIRCClient, version: str = " 302") -> list[str]:
    client.line("CAP LS" + version)
    line, = client.take()
    return line.split(" :", 1)[1].split()


def sts(server, *kinds, version=" 302"):
    return [cap for cap in cap_ls(connect(server, *kinds), version) if cap.startswith("sts")]


PLAIN = (ITCPTransport,)
TLS = (ITCPTransport, ISSLTransport)


def test_plain_connection_gets_the_port():
    """On a plain TCP connection CAP LS 302 lists sts=port=P, without a duration."""
    server = MixedServer(settings=IRCSettings(sts_port=6697))
    assert sts(server, *PLAIN) == ["sts=port=6697"]


def test_tls_connection_gets_the_duration():
    """On a TLS connection CAP LS 302 lists sts=duration=D (30 days by default), without a port."""
    server = MixedServer(settings=IRCSettings(sts_port=6697))
    assert sts(server, *TLS) == ["sts=duration=2592000"]
    server = MixedServer(settings=IRCSettings(sts_port=6697, sts_duration=60))
    assert sts(server, *TLS) == ["sts=duration=60"]


def test_duration_zero_turns_the_policy_off():
    """With a duration of 0 plain connections get no policy, and TLS ones get duration=0 so that clients forget a policy they kept."""
    server = MixedServer(settings=IRCSettings(sts_port=6697, sts_duration=0))
    assert sts(server, *PLAIN) == []
    assert sts(server, *TLS) == ["sts=duration=0"]


def test_no_tls_listener_no_policy():
    """Without a TLS IRC listener no connection is sent a policy."""
    server = MixedServer(settings=IRCSettings(sts_port=None))
    assert sts(server, *PLAIN) == [] and sts(server, *TLS) == []


def test_websocket_gets_no_policy():
    """A connection that is not a TCP socket of its own (IRC over WebSocket) gets no policy: its client cannot move to an IRC port."""
    server = MixedServer(settings=IRCSettings(sts_port=6697))
    assert sts(server) == []


@pytest.mark.parametrize("version", ["", " 301", " abc"])
def test_policy_only_for_cap_302(version):
    """Clients that did not ask for CAP LS 302 cannot read capability values, so they get no sts."""
    server = MixedServer(settings=IRCSettings(sts_port=6697))
    assert sts(server, *PLAIN, version=version) == []


def test_sts_cannot_be_requested():
    """CAP REQ sts is refused with NAK (clients learn the policy from CAP LS only), and the other caps are listed as before."""
    server = MixedServer(settings=IRCSettings(sts_port=6697))
    client = connect(server, *PLAIN)
    listed = cap_ls(client)
    assert "server-time" in listed and listed == sorted(listed)
    client.line("CAP REQ :sts")
    assert client.take() == [":chatservice CAP * NAK sts"]


@pytest.mark.parametrize("descriptions, port", [
    ((), None),
    (("tcp:6667",), None),
    (("tcp:6667", "ssl:6697:privateKey=k.pem:certKey=c.pem"), 6697),
    (("ssl:port=7000:privateKey=k.pem", "ssl:6697:privateKey=k.pem"), 7000),
    (("haproxy:ssl:6698:privateKey=k.pem",), 6698),
    (("unix:/tmp/irc.sock", "tcp6:6667:interface=\\:\\:1"), None),
    (("ssl:notaport:privateKey=k",), None),
    (("ssl:privateKey=k",), None),
    (("systemd:domain=INET:index=0",), None),
])
def test_tls_port(descriptions, port):
    """tls_port finds the first ssl: listener's port, behind haproxy: too, and nothing in other endpoints."""
    assert secure.tls_port(descriptions) == port
