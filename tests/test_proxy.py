"""
Tests for L{chatservice.frontends.proxy}: PROXY headers from trusted
proxies, with fake transports and a fake clock.
"""

from __future__ import annotations

import socket
import struct

import pytest
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.internet import error

from chatservice.frontends import proxy

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(source: str, destination: str, source_port: int = 4000,
              destination_port: int = 6667, command: int = 0x1) -> bytes:
    """A PROXY v2 header for TCP over IPv4 or IPv6 (command 1 PROXY, 0 LOCAL)."""
    family = socket.AF_INET6 if ":" in source else socket.AF_INET
    addresses = (socket.inet_pton(family, source) + socket.inet_pton(family, destination)
                 + struct.pack("!HH", source_port, destination_port))
    family_byte = 0x21 if family == socket.AF_INET6 else 0x11
    return (V2_SIGNATURE + bytes([0x20 | command, family_byte])
            + struct.pack("!H", len(addresses)) + addresses)


class Recorder(Protocol):
    """A front end's protocol that records what it was told."""

    def __init__(self):
        self.peers = []
        self.data = b""
        self.lost = []

    def connectionMade(self):
        self.peers.append(self.transport.getPeer())

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.lost.append(reason)


def connect(peer_host: str = "10.0.0.1", trusted=("10.0.0.0/24",)):
    """A wrapped connection from C{peer_host}: (protocol, recorder, transport, clock)."""
    clock = Clock()
    recorder = Recorder()
    factory = proxy.TrustedProxyFactory(Factory.forProtocol(lambda: recorder),
                                        proxy.trusted_networks(trusted), clock)
    protocol = factory.buildProtocol(IPv4Address("TCP", peer_host, 5000))
    transport = StringTransport(peerAddress=IPv4Address("TCP", peer_host, 5000))
    protocol.makeConnection(transport)
    return protocol, recorder, transport, clock


def test_v1_header_gives_the_client_address_before_connection_made():
    """A v1 header from a trusted proxy connects the front end only then, with the header's client as its peer, and passes on what follows."""
    protocol, recorder, transport, clock = connect()
    assert recorder.peers == []
    protocol.dataReceived(b"PROXY TCP4 203.0.113.5 10.0.0.2 4000 8000\r\nhello\n")
    assert recorder.peers == [IPv4Address("TCP", "203.0.113.5", 4000)]
    assert recorder.data == b"hello\n"
    assert clock.getDelayedCalls() == []


def test_v1_header_split_byte_by_byte():
    """A v1 header that arrives one byte at a time is read whole."""
    protocol, recorder, transport, clock = connect()
    for byte in b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 8000\r\n":
        protocol.dataReceived(bytes([byte]))
    assert recorder.peers == [IPv6Address("TCP", "2001:db8::7", 4000)]
    assert recorder.data == b""
    protocol.dataReceived(b"after")
    assert recorder.data == b"after"


def test_v2_header_split_inside_the_signature():
    """A v2 header split inside its signature is read whole, and the data after it is delivered."""
    protocol, recorder, transport, clock = connect()
    header = v2_header("198.51.100.9", "10.0.0.2")
    protocol.dataReceived(header[:5])
    protocol.dataReceived(header[5:14])
    assert recorder.peers == []
    protocol.dataReceived(header[14:] + b"NICK a\r\n")
    assert recorder.peers == [IPv4Address("TCP", "198.51.100.9", 4000)]
    assert recorder.data == b"NICK a\r\n"


def test_v2_local_health_check_keeps_the_proxy_address():
    """A v2 LOCAL header (a health check) names no client: the connection is the proxy's own."""
    protocol, recorder, transport, clock = connect()
    protocol.dataReceived(V2_SIGNATURE + b"\x20\x00\x00\x00")
    assert recorder.peers == [IPv4Address("TCP", "10.0.0.1", 5000)]


def test_untrusted_peer_is_aborted_unread():
    """A connection from outside the trusted networks is aborted at once, and the front end never hears of it."""
    protocol, recorder, transport, clock = connect(peer_host="192.0.2.66")
    assert transport.disconnecting
    protocol.connectionLost(Failure(error.ConnectionDone()))
    assert (recorder.peers, recorder.lost) == ([], [])
    assert clock.getDelayedCalls() == []


@pytest.mark.parametrize("data", [
    b"NICK alice\r\n",
    b"GET / HTTP/1.1\r\n",
    b"PROXY TCP4 not-an-address 10.0.0.2 1 2\r\n",
    b"PROXY " + b"9" * 200,
    b"\r\n\r\n\x00\r\nQUIT\n\x99\x11\x00\x0c" + b"\x00" * 12,
    b"\x16\x03\x01\x02\x00\x01",  # a TLS ClientHello
    b"\xff\xfe\x00garbage",
])
def test_bad_or_missing_header_is_aborted(data):
    """A trusted proxy's connection that does not open with a valid header is aborted without reaching the front end."""
    protocol, recorder, transport, clock = connect()
    protocol.dataReceived(data)
    assert transport.disconnecting
    assert recorder.peers == []


def test_header_deadline():
    """A trusted connection that sends no complete header within HEADER_TIMEOUT seconds is aborted."""
    protocol, recorder, transport, clock = connect()
    protocol.dataReceived(b"PROXY TCP4 203.0.113.5")
    clock.advance(proxy.HEADER_TIMEOUT - 0.1)
    assert not transport.disconnecting
    clock.advance(0.2)
    assert transport.disconnecting
    assert recorder.peers == []


def test_loss_after_the_header_reaches_the_front_end():
    """Once the header was read, losing the connection is reported to the front end once."""
    protocol, recorder, transport, clock = connect()
    protocol.dataReceived(b"PROXY TCP4 203.0.113.5 10.0.0.2 4000 8000\r\n")
    protocol.connectionLost(Failure(error.ConnectionDone()))
    assert len(recorder.lost) == 1


@pytest.mark.parametrize("host, trusted", [
    ("10.1.2.3", True), ("::ffff:10.1.2.3", True), ("2001:db8::5", True),
    ("10.2.0.1", False), ("2001:db9::5", False),
])
def test_is_trusted(host, trusted):
    """A peer is trusted when its address, IPv4-mapped or not, lies in a trusted network."""
    networks = proxy.trusted_networks(["10.1.0.0/16", "2001:db8::/32"])
    kind = IPv6Address if ":" in host else IPv4Address
    assert proxy.is_trusted(kind("TCP", host, 1), networks) is trusted


def test_is_trusted_refuses_addresses_without_a_host():
    """A UNIX socket peer (no IP address) is never a trusted proxy."""
    from twisted.internet.address import UNIXAddress

    assert proxy.is_trusted(UNIXAddress(b"/tmp/x"), proxy.trusted_networks(["0.0.0.0/0"])) is False


def test_trusted_connection_lost_before_the_header():
    """A trusted connection that drops before its header is complete never reaches the front end, and its header deadline is cancelled."""
    protocol, recorder, transport, clock = connect()
    protocol.dataReceived(b"PROXY TCP4 203.0")
    protocol.connectionLost(Failure(error.ConnectionLost()))
    assert (recorder.peers, recorder.lost) == ([], [])
    assert clock.getDelayedCalls() == []
