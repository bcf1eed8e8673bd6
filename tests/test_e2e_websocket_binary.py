"""
End to end: IRC over WebSocket as irctest and IRCv3 WebSocket clients use it
(``twistd -n chat --web ...``): the ``binary.ircv3.net`` subprotocol, no
subprotocol at all, and the upgrade on ``/`` (clients given only
``ws://host:port``) beside ``/ws``.

What the IRCv3 WebSocket specification asks, and what the server does:
each message, binary or text, is exactly one IRC line without its CR LF; a
line break inside a message ends that line and what follows is dropped (it
never runs as a second command); a trailing CR LF is forgiven.  Binary
messages are bytes: what is not UTF-8 is replaced (U+FFFD) as on IRC's TCP
port, never a close, and text users never get anything but UTF-8.  The
server answers a binary.ircv3.net client in binary messages, a client
without a subprotocol in the kind of message that client sends first
(binary until it has sent one).  Clients use the C{websockets} library, and
a plain socket where a hand-written upgrade is wanted.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import time
from contextlib import ExitStack
from typing import Pattern

import pytest

websockets = pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect as ws_connect  # noqa: E402

from server import HOST, TIMEOUT, Client, join_announcement  # noqa: E402
from test_e2e_websocket import (  # noqa: E402
    MAX_MESSAGE,
    STATIC,
    SUBPROTOCOL,
    http_get,
    open_ws,
    web_server,
)

# Fixtures this module takes from test_e2e_websocket by importing them.
FIXTURES = (open_ws,)

BINARY = "binary.ircv3.net"


class BinaryUser:
    """A C{websockets} client that sends and expects binary messages only."""

    def __init__(self, connection, name: str) -> None:
        self.connection = connection
        self.name = name
        self.received: list[bytes] = []

    @property
    def subprotocol(self) -> str | None:
        return self.connection.subprotocol

    def send(self, line: bytes | str) -> None:
        self.connection.send(line.encode() if isinstance(line, str) else line)

    def read_until(self, expected: bytes | Pattern[bytes], timeout: float = TIMEOUT) -> bytes:
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                message = self.connection.recv(timeout=remaining)
            except TimeoutError:
                raise AssertionError(f"{self.name}: {expected!r} did not arrive; "
                                     f"skipped {skipped!r}") from None
            except ConnectionClosed as closed:
                raise AssertionError(f"{self.name}: closed ({closed}) before {expected!r}; "
                                     f"skipped {skipped!r}") from None
            assert isinstance(message, bytes), f"{self.name}: a text message: {message!r}"
            self.received.append(message)
            if (message == expected if isinstance(expected, bytes)
                    else expected.search(message)):
                return message
            skipped.append(message)

    def read_until_closed(self, timeout: float = TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self.connection.recv(timeout=max(deadline - time.monotonic(), 0.01))
            except TimeoutError:
                raise AssertionError(f"{self.name}: still open after {timeout} s") from None
            except ConnectionClosed as closed:
                return closed.rcvd
            self.received.append(message)

    def register(self, nick: str, room: str | None = "#lobby") -> None:
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick.title()} in binary")
        self.read_until(re.compile(rb"^:\S+ 001 " + nick.encode() + rb" "))
        if room is not None:
            self.send(f"JOIN {room}")
            self.read_until(re.compile(rb"^:\S+ 366 " + nick.encode() + rb" "))


@pytest.fixture
def open_binary():
    """C{open_binary(port, name, subprotocols=(BINARY,), path="/ws", origin=None)}."""
    with ExitStack() as stack:
        def open_(port: int, name: str = "bin", *, subprotocols=(BINARY,),
                  path: str = "/ws", origin: str | None = None) -> BinaryUser:
            sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
            try:
                connection = stack.enter_context(ws_connect(
                    f"ws://{HOST}:{port}{path}", sock=sock,
                    subprotocols=list(subprotocols) if subprotocols is not None else None,
                    origin=origin, compression=None, open_timeout=TIMEOUT,
                    close_timeout=2, ping_interval=None))
            except BaseException:
                sock.close()
                raise
            return BinaryUser(connection, name)

        yield open_


def irc_user(server, nick: str) -> Client:
    client = server.connect(nick, port=server.irc_ports[0])
    client.send(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN #lobby\r\n".encode())
    client.read_until(re.compile(rb"^:\S+ 366 " + nick.encode() + rb" #lobby ", re.M))
    return client


# Subprotocols

@pytest.mark.parametrize("offered, chosen", [
    ((BINARY,), BINARY), ((BINARY, SUBPROTOCOL), BINARY), ((SUBPROTOCOL, BINARY), SUBPROTOCOL)])
def test_the_clients_first_irc_subprotocol_is_chosen(start_server, open_ws, offered, chosen):
    """The server picks the first of the client's subprotocols that it speaks, as the specification asks."""
    server = web_server(start_server)
    client = open_ws(server.web_ports[0], subprotocols=offered)
    assert client.subprotocol == chosen


def test_binary_chat_with_text_line_and_irc_users(start_server, open_ws, open_binary):
    """A binary.ircv3.net user chats in #lobby with a text.ircv3.net user, a line user and a TCP IRC user; it gets binary messages only, one line each without CR LF."""
    server = web_server(start_server, plain=1, irc=1)
    port = server.web_ports[0]
    carol = server.user("carol")
    dave = irc_user(server, "dave")
    text = open_ws(port, "text")
    text.register("text")
    binary = open_binary(port, "binary")
    assert binary.subprotocol == BINARY
    binary.register("binary")
    carol.read_until(join_announcement("binary"))

    binary.send("PRIVMSG #lobby :héllo from binary".encode())
    text.read_until(":binary!~binary@127.0.0.1 PRIVMSG #lobby :héllo from binary")
    carol.read_until("[#lobby] <binary> héllo from binary\r\n")
    dave.read_until(re.compile(r"^:binary!\S+ PRIVMSG #lobby :héllo from binary\r\n"
                               .encode(), re.M))
    text.send("PRIVMSG #lobby :from text")
    binary.read_until(b":text!~text@127.0.0.1 PRIVMSG #lobby :from text")
    carol.send_line("from nc")
    binary.read_until(re.compile(rb"^:carol!\S+ PRIVMSG #lobby :from nc$"))
    dave.send(b"PRIVMSG #lobby :from IRC\r\n")
    binary.read_until(re.compile(rb"^:dave!\S+ PRIVMSG #lobby :from IRC$"))
    for message in binary.received:
        assert b"\r" not in message and b"\n" not in message, message


def test_no_subprotocol_binary_client(start_server, open_binary, open_ws):
    """A client offering no subprotocol that speaks binary is answered in binary, and still may send text."""
    server = web_server(start_server)
    port = server.web_ports[0]
    alice = open_ws(port, "alice")
    alice.register("alice")
    bare = open_binary(port, "bare", subprotocols=None)
    assert bare.subprotocol is None
    bare.register("bare")
    bare.connection.send("PRIVMSG #lobby :text from a bare client")
    alice.read_until(":bare!~bare@127.0.0.1 PRIVMSG #lobby :text from a bare client")
    alice.send("PRIVMSG #lobby :to bare")
    bare.read_until(b":alice!~alice@127.0.0.1 PRIVMSG #lobby :to bare")


# Paths

@pytest.mark.parametrize("subprotocols", [(BINARY,), (SUBPROTOCOL,), None])
def test_upgrade_on_the_root_path(start_server, open_ws, open_binary, subprotocols):
    """ws://host:port (path /) is IRC over WebSocket, as /ws is, whatever the subprotocol."""
    server = web_server(start_server)
    port = server.web_ports[0]
    if subprotocols == (SUBPROTOCOL,):
        user = open_ws(port, "root", subprotocols=subprotocols, path="/")
        user.register("root")
        user.send("PING :root")
        user.read_until(re.compile(r"PONG .*root$"))
    else:
        user = open_binary(port, "root", subprotocols=subprotocols, path="/")
        user.register("root")
        user.send("PING :root")
        user.read_until(re.compile(rb"PONG .*root$"))


def test_root_upgrade_keeps_the_origin_check(start_server, open_binary):
    """On / as on /ws a foreign origin is refused (403) and the page's own accepted; only unknown subprotocols get 406."""
    server = web_server(start_server)
    port = server.web_ports[0]
    with pytest.raises(InvalidStatus) as refused:
        open_binary(port, path="/", origin="http://evil.example")
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as refused:
        open_binary(port, path="/", subprotocols=("mqtt",))
    assert refused.value.response.status_code == 406
    open_binary(port, path="/", origin=f"http://{HOST}:{port}").register("own")


def test_page_is_still_served_on_the_root_path(start_server):
    """A plain GET of / still gets the page, with its security headers."""
    server = web_server(start_server)
    response = http_get(server.web_ports[0], "/")
    assert response.status == 200
    assert response.body == (STATIC / "index.html").read_bytes()
    assert "default-src 'self'" in response.getheader("Content-Security-Policy")


def test_hand_written_upgrade_on_root_without_subprotocol(start_server):
    """A hand-written upgrade of / with no Sec-WebSocket-Protocol gets 101 without one, and binary replies to binary frames."""
    server = web_server(start_server)
    port = server.web_ports[0]
    client = server.connect("raw", port=port)
    key = base64.b64encode(os.urandom(16)).decode()
    client.send(f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n")
    head = client.read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    assert b"sec-websocket-protocol" not in head.lower()
    mask = os.urandom(4)
    payload = b"PING :handmade"
    client.send(bytes([0x82, 0x80 | len(payload)]) + mask
                + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    frame = client.read_until(b"handmade")
    assert frame[0] == 0x82, frame  # FIN, binary
    size = frame[1]
    assert size < 126 and not size & 0x80
    assert re.search(rb"PONG \S+ :?handmade$", frame[2:2 + size]), frame


# Hostile input in binary messages

def test_binary_invalid_utf8_is_refused(start_server, open_ws, open_binary):
    """A binary message that is not UTF-8 gets FAIL INVALID_UTF8 (UTF8ONLY, no 1007 close) and reaches nobody; the connection stays."""
    server = web_server(start_server)
    port = server.web_ports[0]
    text = open_ws(port, "text")
    text.register("text")
    binary = open_binary(port, "binary")
    binary.register("binary")
    binary.send(b"PRIVMSG #lobby :caf\xe9 \xff\xfe \xc3")
    binary.read_until(re.compile(rb"^:\S+ FAIL PRIVMSG INVALID_UTF8 :"))
    binary.send("PRIVMSG #lobby :café")
    text.read_until(":binary!~binary@127.0.0.1 PRIVMSG #lobby :café")
    assert not any("\ufffd" in message for message in text.received)
    binary.send("PING :still here")
    binary.read_until(re.compile(rb"PONG .*still here$"))


def test_binary_overlong_message_closes_with_1009(start_server, open_ws, open_binary):
    """A binary message of 4608 bytes is a line too long (417); a longer one closes with 1009, and the others stay."""
    server = web_server(start_server)
    port = server.web_ports[0]
    text = open_ws(port, "text")
    text.register("text")
    binary = open_binary(port, "binary")
    binary.register("binary")
    binary.send(b"PRIVMSG #lobby :" + b"x" * (MAX_MESSAGE - len("PRIVMSG #lobby :")))
    binary.read_until(re.compile(rb"^:\S+ 417 binary "))
    binary.send(b"PRIVMSG #lobby :" + b"y" * MAX_MESSAGE)
    close = binary.read_until_closed()
    assert close is not None and close.code == 1009, close
    text.read_until(re.compile(r"^:binary!\S+ QUIT "))
    assert not any("xxx" in m or "yyy" in m for m in text.received)


def test_binary_line_breaks_and_nul_inside_a_message(start_server, open_ws, open_binary):
    """Several lines in one binary message: only the first runs (each message is one line); a trailing CR LF is forgiven; NUL and lone CR do not reach others."""
    server = web_server(start_server)
    port = server.web_ports[0]
    text = open_ws(port, "text")
    text.register("text")
    binary = open_binary(port, "binary")
    binary.register("binary")
    binary.send(b"PRIVMSG #lobby :one\r\nQUIT :smuggled\r\n")
    binary.send(b"PRIVMSG #lobby :two\nJOIN #elsewhere")
    binary.send(b"PRIVMSG #lobby :three\r\n")
    binary.send(b"PRIVMSG #lobby :fo\x00ur\rPART #lobby")
    binary.send(b"PRIVMSG #lobby :done")
    text.read_until(":binary!~binary@127.0.0.1 PRIVMSG #lobby :done")
    from_binary = [m for m in text.received if m.startswith(":binary!")]
    assert from_binary[:4] == [":binary!~binary@127.0.0.1 " + rest for rest in (
        "JOIN #lobby", "PRIVMSG #lobby :one", "PRIVMSG #lobby :two",
        "PRIVMSG #lobby :three")], from_binary
    assert len(from_binary) == 6, from_binary
    assert "\x00" not in from_binary[4] and "\r" not in from_binary[4]
    binary.send("WHOIS binary")
    channels = binary.read_until(re.compile(rb"^:\S+ 319 binary binary "))
    assert b"#elsewhere" not in channels and b"#lobby" in channels
