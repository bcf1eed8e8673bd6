"""
End to end: IRC over WebSocket (``twistd -n chat --web ...``) with real
WebSocket clients.

Most clients are the C{websockets} library's (its blocking API, every wait
with a timeout).  Where a test needs bytes the library will not send (a text
frame that is not UTF-8) or a client that never reads, it uses
L{RawWebSocket}: a plain socket, a handshake written by hand and frames
encoded by hand.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import socket
import ssl
import struct
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Pattern

import pytest

websockets = pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect as ws_connect  # noqa: E402

from server import HOST, TIMEOUT, Client, Closed, join_announcement  # noqa: E402

SUBPROTOCOL = "text.ircv3.net"
# The longest message (and frame) the server takes: an IRC line with tags.
MAX_MESSAGE = 4096 + 512
STATIC = Path(__file__).resolve().parent.parent / "chatservice" / "frontends" / "web" / "static"


# Clients

class WebSocketUser:
    """
    A C{websockets} client connection, read with deadlines.

    @ivar received: every message received so far, consumed or not.
    """

    def __init__(self, connection, name: str) -> None:
        self.connection = connection
        self.name = name
        self.received: list[str] = []
        self._unread: list[str] = []

    @property
    def subprotocol(self) -> str | None:
        return self.connection.subprotocol

    def send(self, message: str | bytes) -> None:
        self.connection.send(message)

    def _next(self, deadline: float) -> str:
        if self._unread:
            return self._unread.pop(0)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        message = self.connection.recv(timeout=remaining)
        assert isinstance(message, str), f"{self.name}: a binary message: {message!r}"
        self.received.append(message)
        return message

    def read_until(self, expected: str | Pattern[str], timeout: float = TIMEOUT) -> str:
        """
        Read messages until one equals C{expected} (text) or matches it (a
        compiled pattern); return that one, dropping those before it.
        """
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            try:
                message = self._next(deadline)
            except TimeoutError:
                raise AssertionError(f"{self.name}: {expected!r} did not arrive within "
                                     f"{timeout} s; skipped {skipped!r}") from None
            except ConnectionClosed as closed:
                raise AssertionError(f"{self.name}: closed ({closed}) before {expected!r} "
                                     f"arrived; skipped {skipped!r}") from None
            if (message == expected if isinstance(expected, str)
                    else expected.search(message)):
                return message
            skipped.append(message)

    def read_until_closed(self, timeout: float = TIMEOUT):
        """
        Read until the server closes; return the messages not read yet and
        the close frame the server sent (C{None} if it sent none).
        """
        deadline = time.monotonic() + timeout
        rest = []
        while True:
            try:
                rest.append(self._next(deadline))
            except TimeoutError:
                raise AssertionError(f"{self.name}: still open after {timeout} s; "
                                     f"unread {rest!r}") from None
            except ConnectionClosed as closed:
                return rest, closed.rcvd

    def register(self, nick: str, room: str | None = "#lobby") -> None:
        """Sign in as C{nick} (and join C{room}), reading the replies."""
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick.title()} on the web")
        self.read_until(re.compile(rf"^:\S+ 001 {nick} "))
        self.read_until(re.compile(rf"^:\S+ (376|422) {nick} "))
        if room is not None:
            self.join(nick, room)

    def join(self, nick: str, room: str) -> None:
        self.send(f"JOIN {room}")
        self.read_until(re.compile(rf"^:\S+ 366 {nick} {re.escape(room)} "))

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def open_ws():
    """
    C{open_ws(port, name, subprotocols=..., origin=..., headers=..., tls=...)}
    opens a WebSocket to C{/ws} with the C{websockets} library; every one is
    closed at teardown.
    """
    with ExitStack() as stack:
        def open_(port: int, name: str = "ws", *, subprotocols=(SUBPROTOCOL,),
                  origin: str | None = None, headers=None,
                  tls: ssl.SSLContext | None = None, path: str = "/ws") -> WebSocketUser:
            scheme = "wss" if tls is not None else "ws"
            # Our own socket: no proxy from the environment, and a bounded connect.
            sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
            try:
                connection = ws_connect(
                    f"{scheme}://{HOST}:{port}{path}", sock=sock, ssl=tls,
                    subprotocols=list(subprotocols) if subprotocols is not None else None,
                    origin=origin, additional_headers=headers, compression=None,
                    open_timeout=TIMEOUT, close_timeout=2, ping_interval=None)
                # Entered as a context manager, as the library wants.
                connection = stack.enter_context(connection)
            except BaseException:
                sock.close()
                raise
            return WebSocketUser(connection, name)

        yield open_


class RawWebSocket(Client):
    """
    A WebSocket client made by hand on a plain socket: it sends any frame,
    and reads only when told to.
    """

    @classmethod
    def open(cls, port: int, name: str = "raw", headers: dict[str, str] | None = None,
             rcvbuf: int | None = None, tls: ssl.SSLContext | None = None) -> "RawWebSocket":
        client = cls.connect(port, name=name, rcvbuf=rcvbuf, tls=tls)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET /ws HTTP/1.1", f"Host: {HOST}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13", f"Sec-WebSocket-Protocol: {SUBPROTOCOL}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        client.send("\r\n".join(lines) + "\r\n\r\n")
        head = client.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        return client

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        """Send one masked frame, as a client must."""
        self.send(self.frame(opcode, payload, fin))

    @staticmethod
    def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
        """One masked frame, as a client must send it."""
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

    def send_text(self, line: str | bytes) -> None:
        self.send_frame(0x1, line.encode() if isinstance(line, str) else line)

    def _read_exact(self, count: int, deadline: float) -> bytes:
        while len(self.buffer) < count:
            self._fill(deadline)
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_frame(self, timeout: float = TIMEOUT) -> tuple[int, bytes]:
        """Return the opcode and payload of the server's next frame."""
        deadline = time.monotonic() + timeout
        first, second = self._read_exact(2, deadline)
        assert not second & 0x80, "the server masked a frame"
        size = second & 0x7F
        if size == 126:
            size, = struct.unpack("!H", self._read_exact(2, deadline))
        elif size == 127:
            size, = struct.unpack("!Q", self._read_exact(8, deadline))
        return first & 0x0F, self._read_exact(size, deadline)

    def read_until_close(self, timeout: float = TIMEOUT) -> tuple[list[str], int]:
        """
        Read frames up to the server's close frame; return the text messages
        before it and the close code.
        """
        messages = []
        try:
            while True:
                opcode, payload = self.read_frame(timeout)
                if opcode == 0x8:
                    code, = struct.unpack("!H", payload[:2])
                    return messages, code
                messages.append(payload.decode())
        except TimeoutError:
            raise AssertionError(f"{self.name}: no close frame within {timeout} s; "
                                 f"got {messages!r}") from None
        except Closed:
            raise AssertionError(f"{self.name}: closed without a close frame; "
                                 f"got {messages!r}") from None

    def register(self, nick: str, room: str = "#lobby") -> None:
        for line in (f"NICK {nick}", f"USER {nick} 0 * :{nick.title()}", f"JOIN {room}"):
            self.send_text(line)
        self.read_message_matching(re.compile(rf"^:\S+ 366 {nick} {re.escape(room)} "))

    def read_message_matching(self, pattern: Pattern[str], timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                opcode, payload = self.read_frame(max(deadline - time.monotonic(), 0.01))
            except TimeoutError:
                raise AssertionError(f"{self.name}: {pattern.pattern!r} did not arrive "
                                     f"within {timeout} s") from None
            except Closed:
                raise AssertionError(f"{self.name}: closed before {pattern.pattern!r} "
                                     "arrived") from None
            assert opcode == 0x1, (opcode, payload)
            if pattern.search(payload.decode()):
                return payload.decode()


def raw_ws(server, port: int | None = None, **options) -> RawWebSocket:
    client = RawWebSocket.open(port or server.web_ports[0], **options)
    server.clients.append(client)
    return client


# Helpers

def web_server(start_server, *options: str, **ports):
    """A server with one plain web port (and other ports as given)."""
    ports.setdefault("plain", 0)
    ports.setdefault("web", 1)
    return start_server(*options, **ports)


def users(open_ws, port: int, *nicks: str) -> list[WebSocketUser]:
    """Sign in each of C{nicks} over WebSocket and join #lobby."""
    signed_in = []
    for nick in nicks:
        user = open_ws(port, nick)
        user.register(nick)
        for earlier in signed_in:
            earlier.read_until(re.compile(rf"^:{nick}!\S+ JOIN #lobby$"))
        signed_in.append(user)
    return signed_in


def still_serving(port: int, open_ws, *chatting: WebSocketUser) -> None:
    """A newcomer signs in over WebSocket and those still connected hear it."""
    newcomer = open_ws(port, "newcomer")
    newcomer.register("newcomer")
    newcomer.send("PRIVMSG #lobby :still here?")
    for user in chatting:
        user.read_until(re.compile(r"^:newcomer!\S+ PRIVMSG #lobby :still here\?$"))


def refused_status(open_ws, port: int, **options) -> int:
    """Open a WebSocket that must be refused; return the HTTP status."""
    with pytest.raises(InvalidStatus) as refused:
        open_ws(port, **options)
    return refused.value.response.status_code


def http_get(port: int, path: str, tls: ssl.SSLContext | None = None):
    """GET C{path}; return the response with its body read."""
    if tls is None:
        connection = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    else:
        connection = http.client.HTTPSConnection(HOST, port, timeout=TIMEOUT, context=tls)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.body = response.read()
        return response
    finally:
        connection.close()


def assert_security_headers(response) -> None:
    csp = response.getheader("Content-Security-Policy")
    assert csp and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
    assert response.getheader("X-Content-Type-Options") == "nosniff"


# Subprotocol negotiation

def test_offered_subprotocol_is_chosen(start_server, open_ws):
    """A client offering text.ircv3.net first (among others) gets text.ircv3.net."""
    server = web_server(start_server)
    port = server.web_ports[0]
    assert open_ws(port).subprotocol == SUBPROTOCOL
    both = open_ws(port, subprotocols=("chat", SUBPROTOCOL, "binary.ircv3.net"))
    assert both.subprotocol == SUBPROTOCOL
    both.register("alice", room=None)


def test_no_subprotocol_is_accepted(start_server, open_ws):
    """A client offering no subprotocol is accepted without one; one whose first message is text speaks IRC in text messages."""
    server = web_server(start_server)
    client = open_ws(server.web_ports[0], subprotocols=None)
    assert client.subprotocol is None
    client.register("alice")


def test_only_other_subprotocols_are_refused(start_server, open_ws):
    """A client offering only other subprotocols is refused with HTTP 406, and the server goes on serving."""
    server = web_server(start_server)
    port = server.web_ports[0]
    assert refused_status(open_ws, port, subprotocols=("irc",)) == 406
    assert refused_status(open_ws, port, subprotocols=("chat", "mqtt")) == 406
    still_serving(port, open_ws)


# Chat

def test_registration_and_chat_one_line_per_message(start_server, open_ws):
    """Users sign in and chat over text messages, each carrying exactly one IRC line without CR LF, in both directions."""
    server = web_server(start_server)
    port = server.web_ports[0]
    alice, bob = users(open_ws, port, "alice", "bob")
    alice.send("PRIVMSG #lobby :hello over WebSocket")
    assert bob.read_until(re.compile(r"PRIVMSG")) == (
        ":alice!~alice@127.0.0.1 PRIVMSG #lobby :hello over WebSocket")
    # A client that ends its line with CR LF anyway is understood.
    bob.send("PRIVMSG #lobby :with an ending\r\n")
    alice.read_until(":bob!~bob@127.0.0.1 PRIVMSG #lobby :with an ending")
    # A message in fragments is still one line.
    alice.send(["PRIVMSG #lobby :frag", "mented"])
    bob.read_until(":alice!~alice@127.0.0.1 PRIVMSG #lobby :fragmented")
    bob.send("PING :token")
    bob.read_until(re.compile(r"^:\S+ PONG \S+ :?token$"))
    for user in (alice, bob):
        # The welcome burst came as one message per numeric.
        numerics = [m.split()[1] for m in user.received[:4]]
        assert numerics == ["001", "002", "003", "004"], user.received[:4]
        for message in user.received:
            assert "\r" not in message and "\n" not in message, message
            assert message.startswith(":"), message


def test_websocket_line_and_irc_users_share_the_lobby(start_server, open_ws):
    """A WebSocket IRC user, a line user and a TCP IRC user in #lobby see each other's joins and messages."""
    server = web_server(start_server, plain=1, irc=1)
    carol = server.user("carol")
    dave = server.connect("dave", port=server.irc_ports[0])
    dave.send(b"NICK dave\r\nUSER dave 0 * :Dave on IRC\r\nJOIN #lobby\r\n")
    dave.read_until(re.compile(rb"^:\S+ 366 dave #lobby ", re.M))
    carol.read_until(join_announcement("dave"))

    alice = open_ws(server.web_ports[0], "alice")
    alice.register("alice")
    carol.read_until(join_announcement("alice"))
    dave.read_until(re.compile(rb"^:alice!~alice@127\.0\.0\.1 JOIN #lobby\r\n", re.M))

    alice.send("PRIVMSG #lobby :hi from the web")
    carol.read_until("[#lobby] <alice> hi from the web\r\n")
    dave.read_until(re.compile(rb"^:alice!\S+ PRIVMSG #lobby :hi from the web\r\n", re.M))
    carol.send_line("hi from nc")
    alice.read_until(re.compile(r"^:carol!\S+ PRIVMSG #lobby :hi from nc$"))
    dave.read_until(re.compile(rb"^:carol!\S+ PRIVMSG #lobby :hi from nc\r\n", re.M))
    dave.send(b"PRIVMSG #lobby :hi from IRC\r\n")
    alice.read_until(re.compile(r"^:dave!\S+ PRIVMSG #lobby :hi from IRC$"))
    carol.read_until("[#lobby] <dave> hi from IRC\r\n")
    alice.send("QUIT :bye")
    carol.read_until(re.compile(rb"\*\*\* alice quit \([^\n]*bye\)\r\n"))


# Origins

def test_foreign_origin_is_refused(start_server, open_ws):
    """By default a browser page from another origin is refused with HTTP 403 (an opaque "null" origin is refused too, with Autobahn's 400)."""
    server = web_server(start_server)
    port = server.web_ports[0]
    for origin in ("http://evil.example", f"http://127.0.0.1:{port + 1}",
                   f"http://localhost:{port}"):
        assert refused_status(open_ws, port, origin=origin) == 403, origin
    # Autobahn itself turns "null" (a sandboxed page, a file) away, with 400.
    assert refused_status(open_ws, port, origin="null") in (400, 403)
    still_serving(port, open_ws)


def test_same_origin_and_no_origin_are_accepted(start_server, open_ws):
    """By default the page's own origin, and a client sending no Origin (not a browser), are accepted."""
    server = web_server(start_server)
    port = server.web_ports[0]
    browser = open_ws(port, "browser", origin=f"http://{HOST}:{port}")
    browser.register("browser")
    tool = open_ws(port, "tool")  # the library sends no Origin unless told to
    tool.register("tool")
    browser.read_until(re.compile(r"^:tool!\S+ JOIN #lobby$"))


def test_web_origin_allows_listed_origins_only(start_server, open_ws):
    """With --web-origin the listed origins are accepted besides the page's own, and any other is refused with 403."""
    server = web_server(start_server, "--web-origin", "https://chat.example.com",
                        "--web-origin", "http://other.example:8080/")
    port = server.web_ports[0]
    open_ws(port, origin="https://chat.example.com").register("one")
    open_ws(port, origin="http://other.example:8080").register("two")
    open_ws(port, origin=f"http://{HOST}:{port}").register("own")
    for origin in ("https://evil.example", "http://chat.example.com"):
        assert refused_status(open_ws, port, origin=origin) == 403, origin
    open_ws(port).register("three")  # no Origin: not a browser


# Hostile or broken frames

def test_oversize_message_closes_with_1009(start_server, open_ws):
    """A message of 4608 bytes is taken (and answered 417) but a longer frame or message closes the connection with 1009, and the server keeps serving others."""
    server = web_server(start_server)
    port = server.web_ports[0]
    alice, bob = users(open_ws, port, "alice", "bob")
    # At the limit: not a WebSocket error, only an IRC line that is too long.
    bob.send("PRIVMSG #lobby :" + "x" * (MAX_MESSAGE - len("PRIVMSG #lobby :")))
    bob.read_until(re.compile(r"^:\S+ 417 bob "))
    bob.send("PING :after")
    bob.read_until(re.compile(r"PONG .*after$"))

    bob.send("PRIVMSG #lobby :" + "y" * MAX_MESSAGE)
    _, close = bob.read_until_closed()
    assert close is not None and close.code == 1009, close
    alice.read_until(re.compile(r"^:bob!\S+ QUIT "))

    # Small frames that add up to too much are refused the same way.
    carol = open_ws(port, "carol")
    carol.register("carol")
    carol.send(["PRIVMSG #lobby :", "z" * 3000, "z" * 3000])
    _, close = carol.read_until_closed()
    assert close is not None and close.code == 1009, close
    still_serving(port, open_ws, alice)
    assert not any("yyy" in m or "zzz" in m for m in alice.received)


def test_invalid_utf8_text_closes_with_1007(start_server, open_ws):
    """A text message that is not UTF-8 closes the connection with 1007, and the others stay."""
    server = web_server(start_server)
    port = server.web_ports[0]
    alice, = users(open_ws, port, "alice")
    raw = raw_ws(server, name="raw")
    raw.register("raw")
    alice.read_until(re.compile(r"^:raw!\S+ JOIN #lobby$"))
    raw.send_text(b"PRIVMSG #lobby :\xff\xfe bad")
    _, code = raw.read_until_close()
    assert code == 1007
    alice.read_until(re.compile(r"^:raw!\S+ QUIT "))
    assert not any("bad" in m for m in alice.received)
    still_serving(port, open_ws, alice)


def test_binary_message_on_a_text_connection_is_a_line(start_server, open_ws):
    """A text.ircv3.net client's binary message is taken as one line, refused if not UTF-8 as on IRC's TCP port (UTF8ONLY); the server's replies stay text."""
    server = web_server(start_server)
    port = server.web_ports[0]
    alice, bob = users(open_ws, port, "alice", "bob")
    bob.send(b"PRIVMSG #lobby :binary caf\xe9")
    bob.read_until(re.compile(r"^:\S+ FAIL PRIVMSG INVALID_UTF8 :"))
    bob.send("PRIVMSG #lobby :binary café".encode())
    alice.read_until(":bob!~bob@127.0.0.1 PRIVMSG #lobby :binary café")
    assert not any("\ufffd" in line for line in alice.received)
    bob.send(b"PING :after")
    bob.read_until(re.compile(r"PONG .*after$"))


def test_nothing_runs_or_is_sent_while_a_websocket_closes(start_server, open_ws):
    """Once the server has sent its close frame, the client's later messages do not run and the room's messages to it are dropped while everyone else still gets them."""
    server = web_server(start_server)
    port = server.web_ports[0]
    alice, = users(open_ws, port, "alice")
    bob = raw_ws(server, name="bob")
    bob.register("bob")
    alice.read_until(re.compile(r"^:bob!\S+ JOIN #lobby$"))
    carol, = users(open_ws, port, "carol")  # after bob among #lobby's members
    alice.read_until(re.compile(r"^:carol!\S+ JOIN #lobby$"))
    # A text message that is not UTF-8, and lines after it: bob does not
    # answer the close, so his connection stays closing for a while.
    mark = len(alice.received)
    # In one write: sent one by one, the later frames could meet a server
    # that had already closed the socket (a broken pipe, not what is tested).
    bob.send(bob.frame(0x1, b"\xff") + bob.frame(0x1, b"PRIVMSG #lobby :after the close")
             + bob.frame(0x2, b"NICK robert"))
    _, code = bob.read_until_close()
    assert code == 1007
    alice.send("PRIVMSG #lobby :while bob is closing")
    carol.read_until(":alice!~alice@127.0.0.1 PRIVMSG #lobby :while bob is closing")
    alice.send("PING :done")
    alice.read_until(re.compile(r"PONG .*done$"))
    from_bob = [m for m in alice.received + carol.received if m.startswith(":bob!")]
    assert not any("after the close" in m or " NICK " in m for m in from_bob), from_bob
    # alice's message went through without an error reply.
    assert not any(re.match(r":\S+ [45]\d\d ", m) for m in alice.received[mark:]), \
        alice.received[mark:]


def test_line_break_inside_a_message_ends_the_line(start_server, open_ws):
    """A message with a line break in it is taken as one line, up to the break: what follows never runs as a second command."""
    server = web_server(start_server)
    port = server.web_ports[0]
    alice, bob = users(open_ws, port, "alice", "bob")
    bob.send("PRIVMSG #lobby :first\r\nQUIT :smuggled")
    bob.send("PRIVMSG #lobby :second\nJOIN #elsewhere")
    bob.send("PRIVMSG #lobby :third\rPART #lobby")
    alice.read_until(":bob!~bob@127.0.0.1 PRIVMSG #lobby :first")
    alice.read_until(":bob!~bob@127.0.0.1 PRIVMSG #lobby :second")
    bob.send("PRIVMSG #lobby :done")
    alice.read_until(":bob!~bob@127.0.0.1 PRIVMSG #lobby :done")
    # A lone CR is no line break either: it is dropped from the text.
    from_bob = [m for m in alice.received if m.startswith(":bob!")]
    assert from_bob == [":bob!~bob@127.0.0.1 " + rest for rest in (
        "JOIN #lobby", "PRIVMSG #lobby :first", "PRIVMSG #lobby :second",
        "PRIVMSG #lobby :thirdPART #lobby", "PRIVMSG #lobby :done")]
    bob.send("WHOIS bob")
    channels = bob.read_until(re.compile(r"^:\S+ 319 bob bob "))
    assert "#elsewhere" not in channels and "#lobby" in channels


# Limits shared with the IRC front end

def test_flood_is_disconnected(start_server, open_ws):
    """With the default limits a WebSocket user sending many lines at once gets ERROR "Excess flood" and is closed, and the others keep chatting."""
    server = web_server(start_server)
    port = server.web_ports[0]
    alice, flooder = users(open_ws, port, "alice", "flooder")
    for n in range(200):
        flooder.send(f"PRIVMSG #lobby :flood {n}")
    rest, close = flooder.read_until_closed()
    assert "ERROR :Closing Link: 127.0.0.1 (Excess flood)" in rest, rest
    assert close is not None and close.code == 1000, close
    alice.read_until(re.compile(r"^:flooder!\S+ QUIT :.*Excess flood"))
    assert ":flooder!~flooder@127.0.0.1 PRIVMSG #lobby :flood 0" in alice.received
    assert not any(m.endswith("flood 199") for m in alice.received)
    still_serving(port, open_ws, alice)


def test_max_per_address(start_server, open_ws):
    """With --max-per-address 2 a third WebSocket from the address gets an ERROR and is closed, and a slot frees when one closes."""
    server = web_server(start_server, "--max-per-address", "2", "--exempt", "none")
    port = server.web_ports[0]
    first = open_ws(port, "first")
    first.register("first")
    second = open_ws(port, "second")
    refused = open_ws(port, "refused")
    rest, close = refused.read_until_closed()
    assert rest == [
        "ERROR :Too many connections from your address (the limit is 2)",
        "ERROR :Closing Link: 127.0.0.1 (Too many connections from your address)",
    ]
    assert close is not None and close.code == 1000, close
    closed_before = server.current_log().count("Disconnected ")
    second.close()
    server.wait_for_log(lambda log: log.count("Disconnected ") > closed_before,
                        "the closed WebSocket")
    later = open_ws(port, "later")
    later.register("later")
    first.read_until(re.compile(r"^:later!\S+ JOIN #lobby$"))


def test_client_that_never_reads_is_dropped(start_server, open_ws):
    """A WebSocket client that never reads while the room is flooded is dropped once its send queue is full, and the others are unaffected."""
    server = web_server(start_server, "--no-flood-control", "--max-send-queue", "20000")
    port = server.web_ports[0]
    observer, = users(open_ws, port, "observer")
    slow = raw_ws(server, name="slow", rcvbuf=4096)
    slow.register("slow")
    observer.read_until(re.compile(r"^:slow!\S+ JOIN #lobby$"))
    flooder, = users(open_ws, port, "flooder")
    observer.read_until(re.compile(r"^:flooder!\S+ JOIN #lobby$"))
    # From now on "slow" reads nothing.  Flood in batches small enough for
    # the observer, who reads each, until the server gives up on "slow".
    payload = "p" * 400
    dropped = re.compile(r"^:slow!\S+ QUIT :.*Send queue exceeded")
    sent = 0
    for batch in range(1000):
        for n in range(50):
            flooder.send(f"PRIVMSG #lobby :{sent + n} {payload}")
        sent += 50
        observer.read_until(re.compile(rf"PRIVMSG #lobby :{sent - 1} p"))
        if any(dropped.search(m) for m in observer.received):
            break
    else:
        pytest.fail(f"slow was never dropped after {sent} lines")
    flooder.send("PRIVMSG #lobby :after the flood")
    observer.read_until(re.compile(r"^:flooder!\S+ PRIVMSG #lobby :after the flood$"))
    observer.send("NAMES #lobby")
    names = observer.read_until(re.compile(r"^:\S+ 353 observer "))
    assert "slow" not in names
    still_serving(port, open_ws, observer, flooder)


def test_registration_timeout(start_server, open_ws):
    """With --registration-timeout 1 a WebSocket that never signs in gets ERROR "Registration timed out" and is closed, and signed-in users stay."""
    server = web_server(start_server, "--registration-timeout", "1")
    port = server.web_ports[0]
    alice, = users(open_ws, port, "alice")
    idle = open_ws(port, "idle")
    started = time.monotonic()
    rest, close = idle.read_until_closed(timeout=10)
    waited = time.monotonic() - started
    assert rest == ["ERROR :Closing Link: 127.0.0.1 (Registration timed out)"]
    assert close is not None and close.code == 1000, close
    assert 0.5 <= waited < 8
    alice.send("PRIVMSG #lobby :still here")
    alice.send("PING :alive")
    alice.read_until(re.compile(r"PONG .*alive$"))


# Client addresses behind proxies

def test_forwarded_for_from_an_untrusted_peer_is_ignored(start_server, open_ws):
    """X-Forwarded-For from a peer that is not a --trusted-proxy is ignored: the user is shown at the peer's address."""
    server = web_server(start_server, "--trusted-proxy", "10.0.0.0/8")
    port = server.web_ports[0]
    alice, = users(open_ws, port, "alice")
    bob = open_ws(port, "bob", headers={"X-Forwarded-For": "203.0.113.7"})
    bob.register("bob")
    alice.read_until(":bob!~bob@127.0.0.1 JOIN #lobby")
    alice.send("WHOIS bob")
    assert alice.read_until(re.compile(r"^:\S+ 311 alice bob ")).startswith(
        ":chatservice 311 alice bob ~bob 127.0.0.1 ")


def test_forwarded_for_from_a_trusted_proxy_is_used(start_server, open_ws):
    """X-Forwarded-For from a --trusted-proxy gives the user its last address, shown in JOIN and WHOIS and counted for --max-per-address."""
    server = web_server(start_server, "--trusted-proxy", "127.0.0.1",
                        "--max-per-address", "1")
    port = server.web_ports[0]
    alice = open_ws(port, "alice", headers={"X-Forwarded-For": "198.51.100.1"})
    alice.register("alice")
    bob = open_ws(port, "bob",
                  headers={"X-Forwarded-For": "192.0.2.200, 203.0.113.7"})
    bob.register("bob")
    alice.read_until(":bob!~bob@203.0.113.7 JOIN #lobby")
    alice.send("WHOIS bob")
    assert alice.read_until(re.compile(r"^:\S+ 311 alice bob ")).startswith(
        ":chatservice 311 alice bob ~bob 203.0.113.7 ")
    # Each forwarded address has its own count: a second one from bob's is refused.
    again = open_ws(port, "again", headers={"X-Forwarded-For": "203.0.113.7"})
    rest, _ = again.read_until_closed()
    assert rest[0] == "ERROR :Too many connections from your address (the limit is 1)"


# The page

def test_page_and_static_files_have_security_headers(start_server):
    """The page at / and the files under /static/ are served with Content-Security-Policy and X-Content-Type-Options headers."""
    server = web_server(start_server)
    port = server.web_ports[0]
    page = http_get(port, "/")
    assert page.status == 200
    assert page.getheader("Content-Type").startswith("text/html")
    assert page.body == (STATIC / "index.html").read_bytes()
    assert_security_headers(page)
    for name in sorted(p.name for p in STATIC.iterdir() if p.is_file()):
        response = http_get(port, f"/static/{name}")
        assert response.status == 200, name
        assert response.body == (STATIC / name).read_bytes()
        assert_security_headers(response)


def test_static_directory_is_not_listed(start_server):
    """/static/ never shows a directory listing (it serves its index page, or 403), and paths out of it are not served."""
    server = web_server(start_server)
    port = server.web_ports[0]
    listing = http_get(port, "/static/")
    if (STATIC / "index.html").exists():
        assert listing.status == 200
        assert listing.body == (STATIC / "index.html").read_bytes()
    else:
        assert listing.status == 403
    assert b"Directory listing" not in listing.body
    for path in ("/static/../__init__.py", "/static/%2e%2e/__init__.py",
                 "/static/..%2f__init__.py"):
        response = http_get(port, path)
        assert response.status in (400, 403, 404), (path, response.status)
        assert b"import" not in response.body, path


# TLS

def test_https_and_wss(start_server, tls_context):
    """With an ssl: --web endpoint the page is served over HTTPS and IRC over WSS, to a client trusting the certificate."""
    server = start_server(plain=0, web_tls=1)
    port = server.web_tls_ports[0]
    page = http_get(port, "/", tls=tls_context)
    assert page.status == 200
    assert_security_headers(page)
    # The websockets library's blocking client reads and writes one TLS
    # socket from two threads, which now and then loses its opening
    # handshake; these clients use one thread.
    alice = raw_ws(server, port, name="alice", tls=tls_context,
                   headers={"Origin": f"https://{HOST}:{port}"})
    alice.register("alice")
    bob = raw_ws(server, port, name="bob", tls=tls_context)
    bob.register("bob")
    alice.read_message_matching(re.compile(r"^:bob!~bob@127\.0\.0\.1 JOIN #lobby$"))
    alice.send_text("PRIVMSG #lobby :secret")
    bob.read_message_matching(re.compile(r"^:alice!~alice@127\.0\.0\.1 PRIVMSG #lobby :secret$"))
    # A client that does not trust the certificate does not get in.
    with pytest.raises(ssl.SSLCertVerificationError):
        RawWebSocket.open(port, "untrusting", tls=ssl.create_default_context())
