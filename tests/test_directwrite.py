"""
Tests for L{chatservice.frontends.directwrite} and the send queue's use of
it: a turn's output over TLS is one C{SSL_write} and one write below (over a
real socket, one C{send}), and over WebSocket one write of frames made once
per line for every client; order is kept, and the send-queue cap still cuts
off a client that does not read.

TLS is the real thing: the server side is Twisted's C{TLSMemoryBIOProtocol}
as an ``ssl:`` listener builds it, the client a pyOpenSSL connection over
memory BIOs.  The WebSocket is the real web site and autobahn over a
L{StringTransport} (see L{test_web_unit}).
"""

from __future__ import annotations

import re
import socket
import struct

import pytest
from OpenSSL import SSL
from twisted.internet import ssl, tcp
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor
from twisted.protocols.tls import TLSMemoryBIOFactory

from chatservice.core.limits import Limits
from chatservice.frontends import directwrite
from chatservice.frontends.sendqueue import Flusher, SendQueue
from chatservice.frontends.web import websocket
import unit_helpers
from server import make_certificate
from test_web_unit import OP_BINARY, OP_TEXT, Browser, Web, parse_frames

PEER = IPv4Address("TCP", "127.0.0.1", 40000)


class CountingTransport(unit_helpers.CountingTransport):
    """A transport that remembers each write call, and takes TCP_NODELAY."""

    def setTcpNoDelay(self, enabled):
        """As a TCP transport's (the web site sets it)."""


class Output(Protocol):
    """Sends through a send queue, as the front ends do; drops the connection on overflow."""

    overflows = 0

    def __init__(self, flusher: Flusher, limit: int):
        self.flusher = flusher
        self.limit = limit

    def connectionMade(self):
        self.queue = SendQueue(self.transport, self.limit, self._overflowed, self.flusher)

    def _overflowed(self):
        self.overflows += 1
        self.transport.abortConnection()


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory):
    """Server TLS options with a fresh self-signed certificate."""
    key, cert = make_certificate(tmp_path_factory.mktemp("directwrite"))
    return ssl.PrivateCertificate.loadPEM(cert.read_bytes() + key.read_bytes()).options()


@pytest.fixture(params=["binding", "pyopenssl"])
def encryption(request, monkeypatch):
    """Each TLS test runs through OpenSSL's binding directly and through pyOpenSSL's public methods."""
    if request.param == "pyopenssl":
        monkeypatch.setattr(directwrite, "_lib", None)
    return request.param


class TLSPair:
    """
    A server TLS connection (Twisted's, as ``ssl:`` listeners make) around
    an L{Output} protocol, over C{below} (a StringTransport, or a real
    socket), and its pyOpenSSL client over memory BIOs.
    """

    def __init__(self, server_tls, limit: int = 10 ** 6, real_socket: bool = False):
        self.clock = Clock()
        self.flusher = Flusher(self.clock)
        factory = TLSMemoryBIOFactory(server_tls, False,
                                      Factory.forProtocol(lambda: Output(self.flusher, limit)),
                                      clock=self.clock)
        self.server = factory.buildProtocol(PEER)
        self.peer = None
        if real_socket:
            mine, self.peer = socket.socketpair()
            self.peer.settimeout(5)
            self.reactor = MemoryReactor()
            self.below = tcp.Connection(mine, self.server, self.reactor)
            self.below.connected = True
        else:
            self.below = CountingTransport(peerAddress=PEER)
        self.server.makeConnection(self.below)
        self.output = self.server.wrappedProtocol
        self.client = SSL.Connection(SSL.Context(SSL.TLS_CLIENT_METHOD), None)
        self.client.set_connect_state()
        self.plain = b""

    def _from_server(self) -> bytes:
        if self.peer is None:
            data = self.below.value()
            self.below.clear()
            return data
        if self.below in self.reactor.writers:
            # What Twisted buffered (the handshake's bytes): as the reactor would.
            self.below.doWrite()
        chunks = []
        self.peer.setblocking(False)
        try:
            while True:
                chunk = self.peer.recv(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        except BlockingIOError:
            pass
        return b"".join(chunks)

    def pump(self) -> None:
        """Move bytes both ways until neither side has more (bounded)."""
        for _ in range(20):
            moved = False
            try:
                self.client.do_handshake()
            except SSL.WantReadError:
                pass
            try:
                self.server.dataReceived(self.client.bio_read(1 << 16))
                moved = True
            except SSL.WantReadError:
                pass
            self.clock.advance(0)
            data = self._from_server()
            if data:
                self.client.bio_write(data)
                moved = True
            self.read()
            if not moved:
                return

    def read(self) -> bytes:
        """What the client has decrypted so far."""
        while True:
            try:
                self.plain += self.client.recv(1 << 20)
            except (SSL.WantReadError, SSL.ZeroReturnError):
                return self.plain

    def receive(self) -> bytes:
        """Decrypt what the server has sent since; return all plaintext so far."""
        data = self._from_server()
        if data:
            self.client.bio_write(data)
        return self.read()


def lines(first: int, count: int) -> list[bytes]:
    return [b"message %d\r\n" % n for n in range(first, first + count)]


def application_records(data: bytes) -> int:
    """How many TLS application-data records C{data} holds (each SSL_write of up to 16 KiB makes one)."""
    count = 0
    while data:
        kind, length = data[0], struct.unpack("!H", data[3:5])[0]
        count += kind == 23
        data = data[5 + length:]
    return count


# TLS

def test_tls_turn_is_one_ssl_write_and_one_write_below(server_tls, encryption):
    """A turn's output over TLS is one SSL_write and one write to the transport below, in order, with no timed call left behind."""
    pair = TLSPair(server_tls)
    pair.pump()
    assert pair.server._handshakeDone
    pair.below.writes.clear()
    sent = lines(0, 50)
    for line in sent:
        pair.output.queue.write(line)
    pair.clock.advance(0)
    assert len(pair.below.writes) == 1
    assert application_records(pair.below.writes[0]) == 1
    assert pair.clock.getDelayedCalls() == []
    assert pair.receive() == b"".join(sent)


def test_tls_output_before_the_handshake_arrives_after_it(server_tls, encryption):
    """Output queued before the TLS handshake completes is delivered once it does, complete and in order."""
    pair = TLSPair(server_tls)
    early = lines(0, 5)
    for line in early:
        pair.output.queue.write(line)
    pair.clock.advance(0)
    later = lines(5, 5)
    pair.pump()
    for line in later:
        pair.output.queue.write(line)
    pair.clock.advance(0)
    assert pair.receive() == b"".join(early + later)


def test_tls_output_follows_what_twisted_still_holds(server_tls, encryption):
    """Queued output follows bytes written earlier that Twisted's TLS transport still holds for its next turn."""
    pair = TLSPair(server_tls)
    pair.pump()
    pair.server.write(b"held by twisted\r\n")   # BufferingTLSTransport keeps it a turn
    pair.output.queue.write(b"queued after\r\n")
    pair.clock.advance(0)
    pair.clock.advance(0)
    assert pair.receive() == b"held by twisted\r\nqueued after\r\n"


def test_tls_over_a_real_socket_is_one_send(server_tls, encryption):
    """Over a real socket a turn's TLS output goes out in one send, leaving nothing in Twisted's buffer and no writer registered."""
    pair = TLSPair(server_tls, real_socket=True)
    pair.pump()
    assert pair.server._handshakeDone
    sent = lines(0, 200)
    for line in sent:
        pair.output.queue.write(line)
    pair.clock.advance(0)
    assert pair.below.dataBuffer == b"" and not pair.below._tempDataLen
    assert pair.reactor.writers == set()
    assert pair.receive() == b"".join(sent)


def test_tls_over_a_full_socket_keeps_the_rest_in_order(server_tls, encryption):
    """When the socket takes only part of a turn's TLS output the rest waits in Twisted's buffer, and everything arrives complete and in order."""
    pair = TLSPair(server_tls, real_socket=True)
    pair.pump()
    mine = pair.below.getHandle()
    mine.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sent = []
    for turn in range(4):
        batch = [b"%d %s\r\n" % (n, b"x" * 300) for n in range(turn * 500, turn * 500 + 500)]
        sent += batch
        for line in batch:
            pair.output.queue.write(line)
        pair.clock.advance(0)
    assert pair.below.dataBuffer or pair.below._tempDataLen, "the socket took everything"
    for _ in range(10000):
        pair.receive()
        if pair.below in pair.reactor.writers:
            pair.below.doWrite()
        elif not pair.below.dataBuffer and not pair.below._tempDataLen:
            break
    assert pair.receive() == b"".join(sent)


def test_tls_send_queue_cap_still_cuts_off(server_tls, encryption):
    """A TLS client whose connection is paused is cut off once more than the cap is waiting, and nothing more is written."""
    pair = TLSPair(server_tls, limit=1000)
    pair.pump()
    pair.below.writes.clear()
    pair.below.producer.pauseProducing()   # as TCP does when its buffer is full
    for n in range(30):
        pair.output.queue.write(b"%d %s\r\n" % (n, b"y" * 60))
        pair.clock.advance(0)
    assert pair.output.overflows == 1
    assert pair.below.disconnecting
    pair.output.queue.write(b"after\r\n")
    pair.clock.advance(0)
    # At most TLS's own close alert went out; not one message.
    assert pair.receive() == b""


def test_tls_resumed_output_arrives_in_order(server_tls, encryption):
    """Output held while a TLS connection is paused goes out, in order, when it resumes."""
    pair = TLSPair(server_tls, limit=10 ** 6)
    pair.pump()
    producer = pair.below.producer
    producer.pauseProducing()
    sent = lines(0, 40)
    for line in sent:
        pair.output.queue.write(line)
    pair.clock.advance(0)
    assert pair.receive() == b""
    producer.resumeProducing()
    assert pair.receive() == b"".join(sent)


# WebSocket

class CountingBrowser(Browser):
    """A L{Browser} whose transport remembers each write."""

    def __init__(self, site, clock, host: str = "1.2.3.4") -> None:
        self.clock = clock
        peer = IPv4Address("TCP", host, PEER.port + 1)
        self.transport = CountingTransport(peerAddress=peer,
                                           hostAddress=IPv4Address("TCP", "127.0.0.1", 8080))
        protocol = site.buildProtocol(peer)
        self.transport.protocol = protocol
        protocol.makeConnection(self.transport)


def counting_browser(web: Web, **options) -> CountingBrowser:
    return CountingBrowser(web.site, web.irc.clock).open(**options)


def test_websocket_turn_is_one_write_with_a_frame_per_line():
    """Several messages to a WebSocket client in one turn reach its transport in one write, one text frame per line, in order."""
    web = Web()
    alice = counting_browser(web)
    alice.register("alice")
    bob = web.browser()
    bob.register("bob")
    alice.frames()
    alice.transport.writes.clear()
    for n in range(20):
        bob.send(OP_TEXT, b"PRIVMSG #lobby :hello %d" % n)
    messages = alice.messages()
    assert len(alice.transport.writes) == 1
    assert [re.sub(r"^:bob!\S+ ", "", m) for m in messages] == [
        f"PRIVMSG #lobby :hello {n}" for n in range(20)]


def test_websocket_message_is_framed_once_for_every_client(monkeypatch):
    """A message to many WebSocket clients is framed once in its turn, not once per client, and each client gets it."""
    web = Web()
    browsers = [web.browser() for _ in range(5)]
    for n, browser in enumerate(browsers):
        browser.register(f"u{n}")
    for browser in browsers:
        browser.frames()
    framed = []
    real = websocket.frame_lines

    def counting(first, data, limit):
        framed.append(data)
        return real(first, data, limit)
    monkeypatch.setattr(websocket, "frame_lines", counting)
    browsers[0].send(OP_TEXT, b"PRIVMSG #lobby :to everyone")
    web.irc.clock.advance(0)
    assert len(framed) == 1
    for browser in browsers[1:]:
        assert [m.split(" ", 1)[1] for m in browser.messages()] == [
            "PRIVMSG #lobby :to everyone"]


def test_websocket_text_and_binary_clients_each_get_their_kind():
    """Text and binary WebSocket clients in the same room and turn each get the message in their own kind of frame."""
    web = Web()
    text = web.browser()
    text.register("text")
    binary = web.browser(protocols=(websocket.BINARY,))
    binary.say("NICK binary", "USER binary 0 * :b", "JOIN #lobby")
    assert any(b" 001 binary " in m for m in binary.binary_messages())
    sender = web.browser()
    sender.register("sender")
    text.frames()
    binary.frames()
    sender.send(OP_TEXT, "PRIVMSG #lobby :é".encode())
    assert [m.split(" ", 1)[1] for m in text.messages()] == ["PRIVMSG #lobby :é"]
    assert [m.split(b" ", 1)[1] for m in binary.binary_messages()] == [
        "PRIVMSG #lobby :é".encode()]


@pytest.mark.parametrize("size", [1, 125, 126, 127, 65535, 65536, 70000])
def test_frame_lengths(size):
    """A line of any length gets the length encoding its size needs (7, 16 or 64 bits), unmasked."""
    line = b"z" * size
    data = websocket.frame_lines(0x81, line + b"\r\n" + b"next\r\n", 0)
    assert parse_frames(data) == [(OP_TEXT, line), (OP_TEXT, b"next")]


def test_frame_over_the_limit_is_left_out():
    """A line longer than the WebSocket message limit is not sent; the lines around it are."""
    data = websocket.frame_lines(0x82, b"short\r\n" + b"L" * 300 + b"\r\nafter\r\n", 200)
    assert parse_frames(data) == [(OP_BINARY, b"short"), (OP_BINARY, b"after")]
    assert websocket.frame_lines(0x81, b"\r\n\r\n", 200) == b""


def test_websocket_send_queue_cap_still_cuts_off():
    """A WebSocket client whose connection is paused is dropped once more than the cap is waiting, and the others are served."""
    web = Web(Limits(max_send_queue=2000, flood_control=False))
    slow = web.browser()
    slow.register("slow")
    other = web.browser()
    other.register("other")
    talker = web.browser()
    talker.register("talker")
    slow.frames()
    other.frames()
    slow.transport.producer.pauseProducing()   # as TCP does when its buffer is full
    for n in range(60):
        talker.send(OP_TEXT, b"PRIVMSG #lobby :%d %s" % (n, b"w" * 50))
        web.irc.clock.advance(0)
    assert not web.online("slow")
    assert slow.transport.disconnecting
    got = other.messages()
    assert sum(" PRIVMSG #lobby :" in m for m in got) == 60
    assert any(re.match(r"^:slow!\S+ QUIT :.*Send queue exceeded", m) for m in got)


def test_websocket_sends_nothing_after_its_close_frame():
    """Output queued after the server closed a WebSocket is not sent after the close frame."""
    web = Web()
    alice = web.browser()
    alice.register("alice")
    alice.frames()
    connection = alice.protocol._irc
    connection.send_queue.write(b":server NOTICE alice :before\r\n")
    connection.close("Bye")
    connection.send_queue.write(b":server NOTICE alice :after\r\n")
    web.irc.clock.advance(0)
    messages, code = alice.closing()
    assert code == 1000
    assert not any("after" in m for m in messages)
    assert any("before" in m for m in messages)


def test_websocket_over_tls_frames_go_in_one_ssl_write(server_tls):
    """A turn's WebSocket frames over TLS (wss) are one SSL_write, and decrypt to one frame per line in order."""
    web = Web()
    clock = web.irc.clock
    factory = TLSMemoryBIOFactory(server_tls, False, web.site, clock=clock)
    server = factory.buildProtocol(PEER)
    below = CountingTransport(peerAddress=PEER,
                              hostAddress=IPv4Address("TCP", "127.0.0.1", 8080))
    server.makeConnection(below)
    pair = TLSPair.__new__(TLSPair)
    pair.clock, pair.server, pair.below, pair.peer, pair.plain = clock, server, below, None, b""
    pair.client = SSL.Connection(SSL.Context(SSL.TLS_CLIENT_METHOD), None)
    pair.client.set_connect_state()
    pair.pump()

    def send(data: bytes) -> None:
        pair.client.send(data)
        server.dataReceived(pair.client.bio_read(1 << 20))
        clock.advance(0)
    send(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: text.ircv3.net\r\n\r\n")
    for line in (b"NICK wss", b"USER wss 0 * :w", b"JOIN #lobby"):
        send(bytes([0x81, 0x80 | len(line)]) + b"\0\0\0\0" + line)
    talker = web.browser()
    talker.register("talker")
    pair.receive()
    pair.plain = b""
    below.writes.clear()
    for n in range(30):
        talker.send(OP_TEXT, b"PRIVMSG #lobby :secure %d" % n)
    clock.advance(0)
    assert len(below.writes) == 1
    assert application_records(below.writes[0]) == 1
    frames = parse_frames(pair.receive())
    assert [p.split(b" ", 1)[1] for _, p in frames] == [
        b"PRIVMSG #lobby :secure %d" % n for n in range(30)]
    assert struct.unpack("!B", bytes([frames[0][0]]))[0] == OP_TEXT


def test_websocket_clients_with_the_same_turn_share_its_frames():
    """WebSocket clients sent the same messages in a turn are written the very same bytes, built once."""
    web = Web()
    first, second = counting_browser(web), counting_browser(web)
    first.register("first")
    second.register("second")
    talker = web.browser()
    talker.register("talker")
    first.frames()
    second.frames()
    first.transport.writes.clear()
    second.transport.writes.clear()
    for n in range(3):
        talker.send(OP_TEXT, b"PRIVMSG #lobby :same %d" % n)
    web.irc.clock.advance(0)
    assert len(first.transport.writes) == len(second.transport.writes) == 1
    assert first.transport.writes[0] is second.transport.writes[0]
    assert len(parse_frames(first.transport.writes[0])) == 3
