"""
Unit tests of the web front end, without sockets: the origin and proxy rules
of L{IRCWebSocketFactory}, the L{_LineTransport} between an IRC connection
and its WebSocket, the WebSocket driven through the real L{WebSite} over a
L{StringTransport} (hand-made handshakes and frames, a fake clock for the IRC
deadlines), and the page's resources rendered with L{DummyRequest}.
"""

from __future__ import annotations

import base64
import os
import struct
from itertools import count
from types import SimpleNamespace

import pytest
from twisted.internet import error
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.resource import getChildForRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from chatservice.core.limits import Limits
from chatservice.frontends.web import STATIC, _Static, web_site
from chatservice.frontends.web.websocket import (
    BINARY,
    MAX_MESSAGE_BYTES,
    SUBPROTOCOL,
    IRCWebSocketFactory,
    _LineTransport,
)
from irc_helpers import MixedServer

SERVER_ADDRESS = IPv4Address("TCP", "127.0.0.1", 8080)
HOST_HEADER = "127.0.0.1:8080"


# IRCWebSocketFactory.origin_allowed

def factory(origins=(), proxies=()) -> IRCWebSocketFactory:
    return IRCWebSocketFactory(None, allowed_origins=origins, trusted_proxies=proxies)


def headers(origin: str | None = None, host: str = HOST_HEADER) -> dict[str, str]:
    """Request headers as autobahn hands them over: lower-case names."""
    found = {"host": host}
    if origin is not None:
        found["origin"] = origin
    return found


def allowed(sockets: IRCWebSocketFactory, origin: str | None, host: str = HOST_HEADER) -> bool:
    return sockets.origin_allowed(origin, headers(origin, host))


def test_no_origin_header_is_allowed():
    """A request without an Origin header (not a browser) is allowed, whatever the allow-list."""
    assert allowed(factory(), None)
    assert allowed(factory(["https://chat.example.com"]), None)


def test_same_origin_is_allowed_by_default():
    """By default an Origin whose host and port are the Host header's is allowed, in any case and with a trailing slash."""
    sockets = factory()
    assert allowed(sockets, "http://127.0.0.1:8080")
    assert allowed(sockets, "https://127.0.0.1:8080/")
    assert allowed(sockets, "http://Chat.Example.COM", host="chat.example.com")


def test_other_origins_are_refused_by_default():
    """By default an Origin with another host or port, or "null", or empty, is refused."""
    sockets = factory()
    for origin in ("http://evil.example", "http://127.0.0.1:8081", "http://127.0.0.1",
                   "http://localhost:8080", "null", ""):
        assert not allowed(sockets, origin), origin
    assert not allowed(sockets, "http://chat.example.com:8080", host="chat.example.com")


def test_allow_list_adds_to_same_origin():
    """With an allow-list its origins (case and trailing slash aside) are allowed besides the page's own, and no others."""
    sockets = factory(["https://Chat.Example.com/", "http://other.example:8080"])
    assert allowed(sockets, "https://chat.example.com")
    assert allowed(sockets, "HTTPS://CHAT.EXAMPLE.COM/")
    assert allowed(sockets, "http://other.example:8080")
    assert allowed(sockets, "http://127.0.0.1:8080")
    for origin in ("http://chat.example.com", "https://chat.example.com:8443",
                   "http://other.example", "http://127.0.0.1:8081", "null"):
        assert not allowed(sockets, origin), origin


# IRCWebSocketFactory.client_address

PEER = IPv4Address("TCP", "127.0.0.1", 40000)


def test_forwarded_for_ignored_without_trusted_proxies():
    """Without trusted proxies X-Forwarded-For is ignored: the address is the TCP peer's."""
    assert factory().client_address(PEER, "203.0.113.7") is PEER


def test_forwarded_for_ignored_from_an_untrusted_peer():
    """X-Forwarded-For from a peer outside every trusted network is ignored."""
    sockets = factory(proxies=["10.0.0.0/8", "192.0.2.1"])
    assert sockets.client_address(PEER, "203.0.113.7") is PEER


def test_forwarded_for_from_a_trusted_proxy_gives_its_last_address():
    """From a trusted proxy the client is the last address of X-Forwarded-For (the one the proxy added), as an IPv4 or IPv6 address."""
    sockets = factory(proxies=["127.0.0.0/8"])
    address = sockets.client_address(PEER, "198.51.100.1, 203.0.113.7")
    assert isinstance(address, IPv4Address) and address.host == "203.0.113.7"
    address = sockets.client_address(PEER, " 2001:db8::1 ")
    assert isinstance(address, IPv6Address) and address.host == "2001:db8::1"
    proxy6 = IPv6Address("TCP", "::1", 40000)
    address = factory(proxies=["::1"]).client_address(proxy6, "203.0.113.9")
    assert address.host == "203.0.113.9"


def test_forwarded_for_that_is_not_an_address_is_ignored():
    """From a trusted proxy an empty or malformed X-Forwarded-For leaves the peer's address."""
    sockets = factory(proxies=["127.0.0.1"])
    for header in ("", "unknown", "203.0.113.7, not-an-ip", "203.0.113.7:1234", ","):
        assert sockets.client_address(PEER, header) is PEER, header


def test_peer_without_an_ip_address_is_kept():
    """A peer that has no IP address (a UNIX socket) is never taken for a proxy."""
    peer = UNIXAddress("/tmp/socket")
    assert factory(proxies=["0.0.0.0/0"]).client_address(peer, "203.0.113.7") is peer


# _LineTransport

class FakeSocket:
    """What L{_LineTransport} uses of an autobahn protocol."""

    STATE_OPEN = 1
    STATE_CLOSING = 2

    def __init__(self, binary: bool | None = False) -> None:
        self.binary = binary
        self.state = self.STATE_OPEN
        self.messages: list[tuple[bytes, bool]] = []
        self.closes: list[int] = []
        self.dropped: list[bool] = []
        self.transport = StringTransport(hostAddress=SERVER_ADDRESS)
        self.factory = SimpleNamespace(irc=SimpleNamespace(shutting_down=False))

    def sendMessage(self, payload: bytes, isBinary: bool = False) -> None:
        self.messages.append((payload, isBinary))

    def sendClose(self, code: int) -> None:
        self.closes.append(code)
        self.state = self.STATE_CLOSING

    def sendCloseFrame(self, code: int, reasonUtf8: bytes = b"", isReply: bool = False) -> None:
        self.closes.append(code)
        self.state = self.STATE_CLOSING

    def dropConnection(self, abort: bool = False) -> None:
        self.dropped.append(abort)


def line_transport(binary: bool | None = False):
    socket = FakeSocket(binary)
    return socket, _LineTransport(socket, PEER)


def test_each_written_line_is_one_text_message():
    """Each CR LF-ended line written becomes one text message without its CR LF, however the writes are cut."""
    socket, transport = line_transport()
    transport.write(b":server 001 alice :Welcome\r\n:server 002 alice :Host\r\n")
    transport.writeSequence([b"PING :a\r\n", b"PING :b\r\n"])
    assert socket.messages == [(b":server 001 alice :Welcome", False),
                               (b":server 002 alice :Host", False),
                               (b"PING :a", False), (b"PING :b", False)]


@pytest.mark.parametrize("binary", [True, None])
def test_each_written_line_is_one_binary_message(binary):
    """With binary.ircv3.net, or no subprotocol and nothing heard yet, each line becomes one binary message."""
    socket, transport = line_transport(binary)
    transport.write(b":server 001 alice :Welcome\r\n:server 002 alice :Host\r\n")
    assert socket.messages == [(b":server 001 alice :Welcome", True),
                               (b":server 002 alice :Host", True)]


def test_nothing_is_sent_once_the_socket_is_closing():
    """Writes after the WebSocket started closing are dropped, not sent (autobahn would raise)."""
    socket, transport = line_transport()
    socket.state = FakeSocket.STATE_CLOSING
    transport.write(b"PING :late\r\n")
    assert socket.messages == []


def test_lose_connection_closes_once_with_1000():
    """loseConnection starts one normal close (1000), however often it is called."""
    socket, transport = line_transport()
    transport.loseConnection()
    transport.loseConnection()
    assert socket.closes == [1000] and transport.disconnecting


def test_lose_connection_while_the_server_stops_closes_with_1001():
    """While the server shuts down, loseConnection closes with 1001 (going away)."""
    socket, transport = line_transport()
    socket.factory.irc.shutting_down = True
    transport.loseConnection()
    assert socket.closes == [1001]


def test_transport_names_itself_ws_or_wss():
    """The WebSocket line transport is called ws, or wss over TLS, for monitoring."""
    from twisted.internet.interfaces import ISSLTransport
    from zope.interface import alsoProvides

    socket, transport = line_transport()
    assert transport.transport_name == "ws"
    alsoProvides(socket.transport, ISSLTransport)
    assert _LineTransport(socket, PEER).transport_name == "wss"


def test_abort_connection_drops_the_connection():
    """abortConnection drops the TCP connection at once."""
    socket, transport = line_transport()
    transport.abortConnection()
    assert socket.dropped == [True] and transport.disconnecting


def test_addresses_and_producers():
    """The transport shows the client's address as its peer, the TCP connection's host, and passes producers on to the TCP connection."""
    socket, transport = line_transport()
    assert transport.getPeer() is PEER
    assert transport.getHost() == SERVER_ADDRESS
    producer = object()
    transport.registerProducer(producer, True)
    assert socket.transport.producer is producer and socket.transport.streaming
    transport.unregisterProducer()
    assert socket.transport.producer is None


# The WebSocket, through the real site, over a StringTransport

OP_TEXT, OP_BINARY, OP_CLOSE = 0x1, 0x2, 0x8


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        length = bytes([0x80 | size])
    elif size < 1 << 16:
        length = bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        length = bytes([0x80 | 127]) + struct.pack("!Q", size)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([(0x80 if fin else 0) | opcode]) + length + mask + masked


def parse_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split the server's (unmasked, unfragmented) frames."""
    frames = []
    while data:
        first, second = data[0], data[1]
        assert first & 0x80 and not second & 0x80, data[:2]
        size, at = second & 0x7F, 2
        if size == 126:
            size, = struct.unpack("!H", data[2:4])
            at = 4
        elif size == 127:
            size, = struct.unpack("!Q", data[2:10])
            at = 10
        frames.append((first & 0x0F, data[at:at + size]))
        data = data[at + size:]
    return frames


_ports = count(50000)


class Browser:
    """
    One HTTP connection to the site, over a L{StringTransport} whose
    C{protocol} is set as a real transport's is (the WebSocket resource
    hands the transport over to the WebSocket through it).
    """

    def __init__(self, site, clock, host: str = "1.2.3.4") -> None:
        self.clock = clock
        peer = IPv4Address("TCP", host, next(_ports))
        self.transport = StringTransport(peerAddress=peer, hostAddress=SERVER_ADDRESS)
        protocol = site.buildProtocol(peer)
        self.transport.protocol = protocol
        protocol.makeConnection(self.transport)

    @property
    def protocol(self):
        return self.transport.protocol

    def handshake(self, protocols=(SUBPROTOCOL,), origin: str | None = None,
                  extra: dict[str, str] | None = None,
                  path: str = "/ws") -> tuple[int, dict[str, str]]:
        """Send an upgrade request for C{path}; return the status and the headers."""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {HOST_HEADER}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        if origin is not None:
            lines.append(f"Origin: {origin}")
        lines += [f"{name}: {value}" for name, value in (extra or {}).items()]
        self.protocol.dataReceived(("\r\n".join(lines) + "\r\n\r\n").encode())
        head, _, rest = self.transport.value().partition(b"\r\n\r\n")
        self.transport.clear()
        self.transport.write(rest)
        status_line, *header_lines = head.decode().split("\r\n")
        found = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            found[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), found

    def open(self, **options) -> "Browser":
        status, found = self.handshake(**options)
        assert status == 101, (status, found)
        return self

    def send(self, opcode: int, payload: bytes) -> None:
        self.protocol.dataReceived(frame(opcode, payload))

    def say(self, *lines: str) -> None:
        for line in lines:
            self.send(OP_TEXT, line.encode())

    def frames(self) -> list[tuple[int, bytes]]:
        """The frames the server sent since the last call."""
        # Output may wait for the end of the reactor's turn.
        self.clock.advance(0)
        data = self.transport.value()
        self.transport.clear()
        return parse_frames(data)

    def messages(self) -> list[str]:
        """The text messages the server sent since the last call (no other frames allowed)."""
        frames = self.frames()
        assert all(opcode == OP_TEXT for opcode, _ in frames), frames
        return [payload.decode() for _, payload in frames]

    def binary_messages(self) -> list[bytes]:
        """The binary messages the server sent since the last call (no other frames allowed)."""
        frames = self.frames()
        assert all(opcode == OP_BINARY for opcode, _ in frames), frames
        return [payload for _, payload in frames]

    def closing(self) -> tuple[list[str], int]:
        """
        The text messages the server sent since the last call, and the code
        of the close frame that must follow them.
        """
        frames = self.frames()
        assert frames and frames[-1][0] == OP_CLOSE, frames
        assert all(opcode == OP_TEXT for opcode, _ in frames[:-1]), frames
        code, = struct.unpack("!H", frames[-1][1][:2])
        return [payload.decode() for _, payload in frames[:-1]], code

    def close_code(self) -> int:
        """The code of the close frame, which must be the only frame sent."""
        messages, code = self.closing()
        assert messages == [], messages
        return code

    def register(self, nick: str, room: str | None = "#lobby") -> list[str]:
        self.say(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        if room is not None:
            self.say(f"JOIN {room}")
        messages = self.messages()
        assert any(f" 001 {nick} " in m for m in messages), messages
        return messages

    def lose(self) -> None:
        """The TCP connection goes away."""
        self.transport.connected = False
        self.protocol.connectionLost(Failure(error.ConnectionLost()))


class Web:
    """A hub on a fake clock with the IRC factory and the web site around it."""

    def __init__(self, limits: Limits | None = None, origins=(), proxies=()) -> None:
        self.irc = MixedServer(limits)
        self.site = web_site(self.irc.irc_factory, origins, proxies)

    @property
    def hub(self):
        return self.irc.hub

    def online(self, nick: str) -> bool:
        return nick in {user.nick for user in self.hub.users()}

    def browser(self, host: str = "1.2.3.4", **options) -> Browser:
        return Browser(self.site, self.irc.clock, host).open(**options)

    def handshake(self, **options) -> tuple[int, dict[str, str]]:
        return Browser(self.site, self.irc.clock).handshake(**options)


@pytest.mark.parametrize("offered, chosen", [
    ((SUBPROTOCOL,), SUBPROTOCOL),
    ((BINARY,), BINARY),
    ((BINARY, SUBPROTOCOL), BINARY),
    ((SUBPROTOCOL, BINARY), SUBPROTOCOL),
    (("mqtt", BINARY, "chat", SUBPROTOCOL), BINARY),
    (("chat", SUBPROTOCOL), SUBPROTOCOL),
])
def test_handshake_chooses_the_clients_first_irc_subprotocol(offered, chosen):
    """The upgrade answers 101 with the first of the client's subprotocols that the server speaks (the client's order of preference)."""
    status, found = Web().handshake(protocols=offered)
    assert status == 101 and found["sec-websocket-protocol"] == chosen


def test_handshake_without_a_subprotocol():
    """A client offering no subprotocol is answered 101 without one."""
    status, found = Web().handshake(protocols=())
    assert status == 101 and "sec-websocket-protocol" not in found


def test_handshake_refuses_other_subprotocols_and_origins():
    """The upgrade answers 406 to a client offering only other subprotocols and 403 to a foreign origin, and no IRC connection is made."""
    web = Web()
    assert web.handshake(protocols=("mqtt",))[0] == 406
    assert web.handshake(origin="http://evil.example")[0] == 403
    assert web.handshake(origin=f"http://{HOST_HEADER}")[0] == 101
    assert web.irc.addresses._counts == {"1.2.3.4": 1}


def test_lines_in_text_messages():
    """Each text message is one IRC line and each line from the server one text message, without CR LF."""
    web = Web()
    alice = web.browser()
    messages = alice.register("alice")
    assert messages[0] == ":chatservice 001 alice :Welcome to the chatservice IRC network, alice!~alice@1.2.3.4"
    assert all("\r" not in m and "\n" not in m for m in messages)
    assert messages[-3:] == [":alice!~alice@1.2.3.4 JOIN #lobby",
                             ":chatservice 353 alice = #lobby @alice",
                             ":chatservice 366 alice #lobby :End of /NAMES list"]
    bob = web.browser()
    bob.register("bob")
    alice.messages()
    bob.say("PRIVMSG #lobby :hi\r\nQUIT :smuggled")
    assert alice.messages() == [":bob!~bob@1.2.3.4 PRIVMSG #lobby :hi"]
    assert web.online("bob")


def test_web_and_tcp_irc_users_share_a_room():
    """A WebSocket user and a TCP IRC user in one room hear each other."""
    web = Web()
    alice = web.browser()
    alice.register("alice")
    bob = web.irc.register("bob")
    bob.line("JOIN #lobby")
    bob.take()
    alice.messages()
    bob.line("PRIVMSG #lobby :from TCP")
    assert alice.messages() == [":bob!~bob@1.2.3.4 PRIVMSG #lobby :from TCP"]
    alice.say("PRIVMSG #lobby :from the web")
    assert bob.take() == [":alice!~alice@1.2.3.4 PRIVMSG #lobby :from the web"]


def test_a_close_and_nothing_after_it_runs():
    """After a close (here 1007 for a text message that is not UTF-8) the messages after it do not run, and the room's messages to the closing user are dropped."""
    web = Web()
    alice, bob = web.browser(), web.browser()
    alice.register("alice")
    bob.register("bob")
    alice.messages()
    bob.protocol.dataReceived(frame(OP_TEXT, b"PRIVMSG #lobby :\xff")
                              + frame(OP_TEXT, b"PRIVMSG #lobby :after")
                              + frame(OP_BINARY, b"PRIVMSG #lobby :binary after"))
    assert bob.close_code() == 1007
    assert alice.messages() == []
    alice.say("PRIVMSG #lobby :to the closing bob")
    assert bob.frames() == []
    bob.lose()
    assert not web.online("bob")
    assert alice.messages() == [":bob!~bob@1.2.3.4 QUIT :Connection reset"]


def test_invalid_utf8_closes_with_1007():
    """A text message that is not UTF-8 gets a 1007 close and is not passed on."""
    web = Web()
    alice, bob = web.browser(), web.browser()
    alice.register("alice")
    bob.register("bob")
    alice.messages()
    bob.send(OP_TEXT, b"PRIVMSG #lobby :\xff\xfe")
    assert bob.close_code() == 1007
    assert alice.messages() == []


def test_message_over_the_limit_closes_with_1009():
    """A message of MAX_MESSAGE_BYTES is an IRC line too long (417), and one byte more gets a 1009 close."""
    web = Web()
    alice = web.browser()
    alice.register("alice")
    alice.send(OP_TEXT, b"PRIVMSG #lobby :" + b"x" * (MAX_MESSAGE_BYTES - 16))
    assert [m.split()[1] for m in alice.messages()] == ["417"]
    alice.send(OP_TEXT, b"PRIVMSG #lobby :" + b"x" * (MAX_MESSAGE_BYTES - 15))
    assert alice.close_code() == 1009
    assert MAX_MESSAGE_BYTES == 4096 + 512


def test_registration_timeout_on_the_hub_clock():
    """A WebSocket that does not sign in within the registration timeout gets an ERROR and a normal close."""
    web = Web(Limits(flood_control=False, registration_timeout=10))
    idle = web.browser()
    web.irc.clock.advance(9)
    assert idle.frames() == []
    web.irc.clock.advance(1)
    assert idle.closing() == (["ERROR :Closing Link: 1.2.3.4 (Registration timed out)"], 1000)


def test_trusted_proxy_address_is_the_users_host():
    """Behind a trusted proxy the user's host is the X-Forwarded-For address, and the per-address count is kept under it."""
    web = Web(proxies=["1.2.3.4"])
    alice = web.browser(extra={"X-Forwarded-For": "203.0.113.7"})
    messages = alice.register("alice")
    assert messages[0].endswith("alice!~alice@203.0.113.7")
    assert web.hub.find_user("alice").host == "203.0.113.7"
    assert web.irc.addresses._counts == {"203.0.113.7": 1}
    alice.lose()
    assert web.irc.addresses._counts == {}


def test_per_address_limit_applies_to_websockets():
    """The per-address limit counts WebSockets: one too many gets an ERROR and a normal close."""
    web = Web(Limits(flood_control=False, max_per_address=1))
    web.browser().register("alice")
    refused = web.browser()
    assert refused.closing() == ([
        "ERROR :Too many connections from your address (the limit is 1)",
        "ERROR :Closing Link: 1.2.3.4 (Too many connections from your address)",
    ], 1000)


# The page's resources

def render(path: bytes) -> DummyRequest:
    """GET C{path} from the web site's resources; return the finished request."""
    root = web_site(MixedServer().irc_factory).resource
    request = DummyRequest(path.lstrip(b"/").split(b"/"))
    request.method = b"GET"
    resource = getChildForRequest(root, request)
    result = resource.render(request)
    if result is not NOT_DONE_YET:
        request.write(result)
        request.finish()
    assert request.finished
    return request


def header(request: DummyRequest, name: bytes) -> bytes | None:
    values = request.responseHeaders.getRawHeaders(name)
    return values[0] if values else None


@pytest.mark.parametrize("path", [b"/", b"/static/index.html"])
def test_page_has_security_headers(path):
    """The page and the static files carry Content-Security-Policy, nosniff and no-referrer headers."""
    request = render(path)
    assert request.responseCode in (None, 200)
    assert b"".join(request.written) == (STATIC / "index.html").read_bytes()
    assert b"default-src 'self'" in header(request, b"Content-Security-Policy")
    assert b"frame-ancestors 'none'" in header(request, b"Content-Security-Policy")
    assert header(request, b"X-Content-Type-Options") == b"nosniff"
    assert header(request, b"Referrer-Policy") == b"no-referrer"


def test_directory_without_index_is_not_listed(tmp_path):
    """A static directory without an index page answers 403 instead of listing its files."""
    (tmp_path / "secret.txt").write_text("not for listing")
    request = DummyRequest([b""])
    request.method = b"GET"
    resource = _Static(str(tmp_path))
    result = getChildForRequest(resource, request).render(request)
    if result is not NOT_DONE_YET:
        request.write(result)
        request.finish()
    assert request.responseCode == 403
    assert b"secret.txt" not in b"".join(request.written)
