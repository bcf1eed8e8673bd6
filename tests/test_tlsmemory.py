"""
Tests for L{chatservice.frontends.tlsmemory}: a TLS connection's memory BIOs
are replaced only while both are empty, and the connection goes on both
ways afterwards, a record split across the swap included; and the context
of certificate options asks every connection for a certificate.

The TLS is real (Twisted's C{TLSMemoryBIOProtocol} and a pyOpenSSL
client: L{test_directwrite.TLSPair}).
"""

from __future__ import annotations

import pytest
from OpenSSL import SSL
from twisted.internet import ssl
from twisted.internet.testing import StringTransport

from chatservice.frontends import tlsmemory
from server import make_certificate
from test_directwrite import TLSPair, lines


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory):
    """Server TLS options with a fresh self-signed certificate."""
    key, cert = make_certificate(tmp_path_factory.mktemp("tlsmemory"))
    return ssl.PrivateCertificate.loadPEM(cert.read_bytes() + key.read_bytes()).options()


class Received:
    """Collects what the server's protocol receives."""

    def __init__(self, pair: TLSPair):
        self.data = b""
        pair.output.dataReceived = self.received

    def received(self, data: bytes) -> None:
        self.data += data


def test_empty_buffers_are_replaced_and_the_connection_goes_on(server_tls):
    """After the handshake and a burst of output, both BIOs are replaced, and data still flows both ways."""
    pair = TLSPair(server_tls)
    got = Received(pair)
    pair.pump()
    burst = lines(0, 100)
    for line in burst:
        pair.output.queue.write(line)
    pair.clock.advance(0)
    assert pair.receive() == b"".join(burst)
    old = pair.server._tlsConnection._from_ssl
    assert tlsmemory.release_buffers(pair.server)
    assert pair.server._tlsConnection._from_ssl != old
    pair.output.queue.write(b"after\r\n")
    pair.clock.advance(0)
    assert pair.receive() == b"".join(burst) + b"after\r\n"
    pair.client.send(b"from the client\r\n")
    pair.pump()
    assert got.data == b"from the client\r\n"


def test_a_record_split_across_the_swap_arrives_whole(server_tls):
    """A client record whose first half arrived before the BIOs were replaced is decrypted whole once the rest comes."""
    pair = TLSPair(server_tls)
    got = Received(pair)
    pair.pump()
    pair.client.send(b"split across the swap\r\n")
    record = pair.client.bio_read(1 << 16)
    pair.server.dataReceived(record[:10])
    assert tlsmemory.release_buffers(pair.server)
    pair.server.dataReceived(record[10:])
    assert got.data == b"split across the swap\r\n"


def test_unsent_output_keeps_the_buffers(server_tls):
    """While encrypted output waits in the outgoing BIO, nothing is replaced and the output is kept."""
    pair = TLSPair(server_tls)
    pair.pump()
    connection = pair.server._tlsConnection
    connection.send(b"not yet read\r\n")
    old = connection._from_ssl
    assert not tlsmemory.release_buffers(pair.server)
    assert connection._from_ssl == old
    pair.client.bio_write(connection.bio_read(1 << 16))
    assert pair.read().endswith(b"not yet read\r\n")


def test_closing_or_plain_connections_are_left_alone(server_tls):
    """A closing TLS connection and a transport that is not TLS are left as they are."""
    assert not tlsmemory.release_buffers(StringTransport())
    pair = TLSPair(server_tls)
    pair.pump()
    pair.server.loseConnection()
    assert not tlsmemory.release_buffers(pair.server)


def test_a_context_asks_every_connection_for_a_certificate():
    """A context set to ask (after it was used) makes connections that ask for, but do not require, a certificate."""
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    SSL.Connection(context, None)
    tlsmemory.ask_for_certificates(context)
    mode = SSL.Connection(context, None).get_verify_mode()
    assert mode & SSL.VERIFY_PEER and not mode & SSL.VERIFY_FAIL_IF_NO_PEER_CERT


def test_signing_in_releases_the_buffers_after_the_welcome(monkeypatch):
    """IRC and line connections give their buffers back once, after the welcome was written."""
    from chatservice.frontends import connection
    from irc_helpers import MixedServer
    released = []
    monkeypatch.setattr(connection, "release_buffers",
                        lambda transport: released.append((transport, transport.value())))
    server = MixedServer()
    irc = server.register("alice")
    assert len(released) == 1 and released[0][0] is irc.transport
    assert b" 001 alice " in released[0][1]
    line = server.sign_in_line("bob")
    assert [transport for transport, _ in released] == [irc.transport, line.transport]


def test_transports_that_write_late_keep_no_dictionary_of_their_own():
    """TCP transports made in a burst that first write through Twisted's buffer later hold their attributes in the shared table, not a dictionary each."""
    import gc
    import socket
    from twisted.internet import tcp
    from twisted.internet.protocol import Protocol
    from twisted.internet.testing import MemoryReactor

    class Transport(tcp.Server):
        """A class of its own: its table of names is fresh."""

    class Port:
        _realPortNumber = 6697

        def logPrefix(self):
            return "port"

    tlsmemory.share_write_names(Transport)
    tlsmemory.share_write_names(Transport)
    pairs = [socket.socketpair() for _ in range(40)]
    try:
        reactor = MemoryReactor()
        transports = [Transport(mine, Protocol(), ("127.0.0.1", 1), Port(), n, reactor)
                      for n, (mine, _) in enumerate(pairs)]
        for transport in transports:
            transport.write(b"handshake")
            transport.doWrite()
        assert not any(isinstance(referent, dict) for transport in transports
                       for referent in gc.get_referents(transport))
    finally:
        for mine, theirs in pairs:
            mine.close()
            theirs.close()
