"""
Tests for the line front end's hint to use TLS: which connections get it,
with fake transports.
"""

from __future__ import annotations

import pytest
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import ISSLTransport, ITCPTransport
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from zope.interface import directlyProvides

from chatservice.core.hub import Hub
from chatservice.core.limits import AddressLimiter, Limits
from chatservice.frontends.line import LineChatFactory

HINT = b"*** This connection is not encrypted: for TLS, connect to port 8443.\r\n"


def greeting(local: str = "192.0.2.10", tls_port: int | None = 8443,
             kinds=(ITCPTransport,)) -> bytes:
    """What a line client connected to the address C{local} is sent first."""
    clock = Clock()
    factory = LineChatFactory(Hub(clock), Limits(), AddressLimiter(10))
    factory.tls_port = tls_port
    kind = IPv6Address if ":" in local else IPv4Address
    peer = IPv4Address("TCP", "203.0.113.7", 40000)
    transport = StringTransport(hostAddress=kind("TCP", local, 8000), peerAddress=peer)
    if kinds:
        directlyProvides(transport, *kinds)
    protocol = factory.buildProtocol(peer)
    protocol.makeConnection(transport)
    clock.advance(0)  # output is flushed once per reactor turn
    sent = transport.value()
    assert sent.startswith(b"*** Welcome to ") and b"*** Choose a nickname" in sent
    return sent


@pytest.mark.parametrize("local", ["192.0.2.10", "10.0.0.5", "2001:db8::10"])
def test_plain_connection_from_the_network_gets_the_tls_port(local):
    """A plain TCP connection to a non-loopback address is told, between the welcome and the nickname prompt, which port speaks TLS."""
    sent = greeting(local)
    welcome, hint, prompt = sent.split(b"\r\n")[:3]
    assert welcome.startswith(b"*** Welcome to ")
    assert hint + b"\r\n" == HINT
    assert prompt.startswith(b"*** Choose a nickname")


@pytest.mark.parametrize("local", ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"])
def test_loopback_connection_gets_no_hint(local):
    """A connection to a loopback address (nobody can listen in) is not told about TLS."""
    assert HINT not in greeting(local)


def test_tls_connection_gets_no_hint():
    """A connection that is already TLS is not told about TLS."""
    assert HINT not in greeting(kinds=(ITCPTransport, ISSLTransport))


def test_no_tls_listener_no_hint():
    """Without a TLS line-chat listener there is nothing to point to."""
    assert b"encrypted" not in greeting(tls_port=None)


def test_non_socket_transport_gets_no_hint():
    """A transport that is not a TCP socket (a UNIX socket, say) gets no hint."""
    assert HINT not in greeting(kinds=())
