"""
Helpers for the unit tests: a line-chat server on a fake clock, and clients
connected to it through L{StringTransport}s.  No sockets, no sleeping.
"""

from __future__ import annotations

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from chatservice.core.hub import Hub
from chatservice.core.limits import AddressLimiter, Limits
from chatservice.frontends.line import LineChatFactory, LineChatProtocol

GREETING_PROMPT = "*** Choose a nickname (letters, digits and _-[]\\`^{}|, up to 32):"


class CountingTransport(StringTransport):
    """A StringTransport that remembers each write call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.writes = []

    def write(self, data):
        self.writes.append(data)
        super().write(data)


def end_of_turn(factory) -> None:
    """
    What the end of a reactor turn does with output: joins held to be
    announced together (core.arrivals) are, then every send queue is flushed.
    """
    factory.hub.arrivals.flush()
    factory.flusher.flush()


class FakeLineClient:
    """
    One line-chat connection seen from the client's side of a
    L{StringTransport}.
    """

    def __init__(self, protocol: LineChatProtocol, transport: StringTransport):
        self.protocol = protocol
        self.transport = transport

    def send(self, data: bytes | str) -> None:
        """Deliver raw bytes (or UTF-8 text) to the server."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.protocol.dataReceived(data)

    def line(self, text: str) -> None:
        """Send one line of text, ended with C{\\r\\n}."""
        self.send(text + "\r\n")

    def raw(self) -> bytes:
        """Everything the server wrote since the last L{take}, unconsumed."""
        end_of_turn(self.protocol.factory)
        return self.transport.value()

    def take(self) -> list[str]:
        """
        Return the lines the server wrote since the last call, decoded, and
        forget them.  Every line the server writes must end in C{\\r\\n} and
        contain no other C{\\r} or C{\\n}.
        """
        end_of_turn(self.protocol.factory)
        data = self.transport.value()
        self.transport.clear()
        if not data:
            return []
        assert data.endswith(b"\r\n"), data
        lines = data[:-2].split(b"\r\n")
        for line in lines:
            self.check(line, data)
        return [line.decode("utf-8") for line in lines]

    def check(self, line: bytes, data: bytes) -> None:
        """Fail if a line the server wrote breaks the wire format."""
        assert b"\r" not in line and b"\n" not in line, data

    @property
    def closed(self) -> bool:
        """Whether the server has asked the transport to close."""
        return self.transport.disconnecting

    @property
    def aborted(self) -> bool:
        """Whether the server has aborted the transport, dropping its output."""
        return self.transport.disconnected

    def lose(self, reason: Exception | None = None) -> None:
        """
        Tell the protocol its connection is gone, as the reactor would; by
        default the client reset it.
        """
        self.transport.connected = False
        self.protocol.connectionLost(Failure(reason or error.ConnectionLost()))

    def pause_reading(self) -> None:
        """Act like a client that stops reading: the transport pauses its producer."""
        self.transport.producer.pauseProducing()

    def resume_reading(self) -> None:
        """Act like a client that reads again."""
        self.transport.producer.resumeProducing()


class LineServer:
    """
    A hub, a fake clock and a line-chat factory, as C{chat_service} would
    build them, and a way to connect clients to them.
    """

    def __init__(self, limits: Limits | None = None, **hub_arguments):
        self.limits = limits or Limits()
        self.clock = Clock()
        self.hub = Hub(self.clock, **hub_arguments)
        self.addresses = AddressLimiter(self.limits.max_per_address)
        self.factory = LineChatFactory(self.hub, self.limits, self.addresses)
        self._port = 5000

    def connect(self, host: str = "1.2.3.4") -> FakeLineClient:
        """Open a connection from C{host} (a new port each time)."""
        self._port += 1
        peer = IPv4Address("TCP", host, self._port)
        protocol = self.factory.buildProtocol(peer)
        transport = StringTransport(peerAddress=peer)
        protocol.makeConnection(transport)
        return FakeLineClient(protocol, transport)

    def sign_in(self, nick: str, host: str = "1.2.3.4") -> FakeLineClient:
        """
        Connect, choose C{nick}, and discard the welcome; the nick must be
        accepted.
        """
        client = self.connect(host)
        client.line(nick)
        lines = client.take()
        assert f"*** Hello {nick}! Type /help for the commands." in lines, lines
        return client


def result(deferred):
    """What a Deferred that has fired holds; its exception, raised."""
    results = []
    deferred.addBoth(results.append)
    assert len(results) == 1, "the Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]
