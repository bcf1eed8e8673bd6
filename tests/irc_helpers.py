"""
Helpers for the IRC unit tests: one hub on a fake clock with both an IRC
factory and a line-chat factory, and IRC clients connected to it through
L{StringTransport}s.  No sockets, no sleeping.
"""

from __future__ import annotations

import base64
import hashlib

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from chatservice.core.hub import Hub
from chatservice.core.limits import AddressLimiter, Limits
from chatservice.frontends.irc import IRCConnection, IRCFactory, IRCSettings
from chatservice.frontends.line import LineChatFactory
from unit_helpers import FakeLineClient

SERVER = "chatservice"


class FakeIRCClient(FakeLineClient):
    """
    One IRC connection seen from the client's side of a L{StringTransport}.
    Every line it takes must also contain no NUL and (tags aside) fit IRC's
    512 bytes.
    """

    def __init__(self, protocol: IRCConnection, transport: StringTransport, host: str):
        super().__init__(protocol, transport)
        self.host = host
        self.nick = "*"

    def check(self, line: bytes, data: bytes) -> None:
        super().check(line, data)
        assert b"\0" not in line, data
        body = line.split(b" ", 1)[1] if line.startswith(b"@") else line
        assert len(body) + 2 <= 512, line

    def said(self, text: str) -> list[str]:
        """Send C{text} and return what the server answered."""
        self.take()
        self.line(text)
        return self.take()

    @property
    def mask(self) -> str:
        return f"{self.nick}!~{self.nick}@{self.host}"


class MixedServer:
    """
    A hub on a fake clock with an IRC factory and a line-chat factory, both
    sharing one address limiter, as C{chat_service} builds them.

    Flood control is off unless C{limits} says otherwise, so that a test may
    send many commands without advancing the clock; the flood tests turn it on.
    """

    def __init__(self, limits: Limits | None = None, settings: IRCSettings | None = None,
                 **hub_arguments):
        self.limits = limits or Limits(flood_control=False)
        self.clock = Clock()
        self.hub = Hub(self.clock, **hub_arguments)
        self.addresses = AddressLimiter(self.limits.max_per_address)
        self.settings = settings or IRCSettings()
        self.irc_factory = IRCFactory(self.hub, self.limits, self.addresses, self.settings)
        self.line_factory = LineChatFactory(self.hub, self.limits, self.addresses)
        self._port = 6000

    def _peer(self, host: str) -> IPv4Address | IPv6Address:
        self._port += 1
        if ":" in host:
            return IPv6Address("TCP", host, self._port)
        return IPv4Address("TCP", host, self._port)

    def connect(self, host: str = "1.2.3.4") -> FakeIRCClient:
        """Open an IRC connection from C{host}."""
        peer = self._peer(host)
        protocol = self.irc_factory.buildProtocol(peer)
        transport = StringTransport(peerAddress=peer)
        protocol.makeConnection(transport)
        return FakeIRCClient(protocol, transport, host)

    def register(self, nick: str, caps: tuple[str, ...] = (), host: str = "1.2.3.4",
                 password: str | None = None) -> FakeIRCClient:
        """
        Connect, negotiate C{caps}, register as C{nick} and discard the
        welcome burst; registration must succeed.
        """
        client = self.connect(host)
        if caps:
            client.line("CAP LS 302")
            client.line("CAP REQ :" + " ".join(caps))
        if password is not None:
            client.line("PASS " + password)
        client.line(f"NICK {nick}")
        client.line(f"USER {nick} 0 * :{nick.title()} Person")
        if caps:
            client.line("CAP END")
        lines = client.take()
        assert any(f" 001 {nick} " in line for line in lines), lines
        client.nick = nick
        return client

    def joined(self, channel: str, *clients: FakeIRCClient) -> None:
        """Have C{clients} join C{channel} in order, then forget all output."""
        for client in clients:
            client.line(f"JOIN {channel}")
        for client in clients:
            client.take()

    def room(self, channel: str, *nicks: str, caps: tuple[str, ...] = ()) -> list[FakeIRCClient]:
        """
        Register IRC clients called C{nicks} (with C{caps}), have them join
        C{channel} in order (the first is its operator), and forget all output.
        """
        clients = [self.register(nick, caps) for nick in nicks]
        self.joined(channel, *clients)
        return clients

    def connect_line(self, host: str = "1.2.3.4") -> FakeLineClient:
        peer = self._peer(host)
        protocol = self.line_factory.buildProtocol(peer)
        transport = StringTransport(peerAddress=peer)
        protocol.makeConnection(transport)
        return FakeLineClient(protocol, transport)

    def sign_in_line(self, nick: str, host: str = "1.2.3.4") -> FakeLineClient:
        """Sign a line user in (they join the hub's default room) and discard the welcome."""
        client = self.connect_line(host)
        client.line(nick)
        lines = client.take()
        assert f"*** Hello {nick}! Type /help for the commands." in lines, lines
        return client



def cheap_hash(password: str) -> str:
    """
    An operator password hash in the format L{Operators} reads, made with a
    tiny scrypt cost so that tests stay fast.
    """
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2, r=1, p=1)
    encode = base64.b64encode
    return f"scrypt$2$1$1${encode(salt).decode()}${encode(digest).decode()}"
